import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readEnvironmentManifest } from '../archive/manifest.js';
import { describeCause, TerrariumError } from '../errors.js';
import { TERRARIUM_DIR } from '../relocate/relocations.js';
import { scriptInterpreter } from '../relocate/rewrite.js';
import { findOutsidePaths } from './outside-paths.js';
import { type EnvironmentProbe, probeEnvironment } from './smoke.js';

export interface Finding {
  /** Relative to the environment ('.' for the environment as a whole). */
  path: string;
  problem: string;
}

export interface Diagnosis {
  findings: Finding[];
  /**
   * Regular files with other hard links (the cache's unpacked copy, environments linked from it): an
   * edit in place changes every one of them. Not a problem of the environment's place; said apart.
   */
  shared: number;
  files: number;
}

/**
 * Everything that ties an environment to a place it is not: files naming an earlier location of it
 * (text or binary), scripts run by a Python outside it, symlinks that are broken or lead outside (the
 * base interpreter excepted; those its manifest declares too), sys.path entries outside it, and an interpreter that does not see it as
 * itself. An empty list means it works where it is.
 */
export async function diagnose(root: string, env: NodeJS.ProcessEnv): Promise<Diagnosis> {
  const cfgText = await fs.readFile(path.join(root, 'pyvenv.cfg'), 'utf8').catch(() => undefined);
  if (cfgText === undefined) {
    throw new TerrariumError('TARGET_NOT_ENV', `${root} is not a Python environment (no pyvenv.cfg)`, { hint: 'pass the environment with --target' });
  }
  const cfg = new Map(
    cfgText.split('\n').flatMap((line) => {
      const m = /^\s*([\w-]+)\s*=\s*(.*?)\s*$/.exec(line);
      return m ? [[m[1]!.toLowerCase(), m[2]!] as const] : [];
    }),
  );
  const manifest = readEnvironmentManifest(root);
  const earlier = [...new Set([manifest?.origin, manifest?.prefix].filter((p): p is string => Boolean(p) && p !== root))];
  const home = cfg.get('home');
  const allowed = [home ? await fs.realpath(path.dirname(home)).catch(() => path.dirname(home)) : undefined, cfg.get('base-prefix')].filter((p): p is string =>
    Boolean(p),
  );
  const declaredLinks = new Set(manifest?.externalLinks.map((l) => l.path) ?? []);
  const findings: Finding[] = [];
  let shared = 0;
  let files = 0;
  const isInside = (p: string) => p === root || p.startsWith(`${root}/`);
  const isAllowed = (p: string) => allowed.some((a) => p === a || p.startsWith(`${a}/`));

  const walk = async (relDir: string): Promise<void> => {
    for (const name of (await fs.readdir(path.join(root, relDir))).sort()) {
      const rel = relDir ? `${relDir}/${name}` : name;
      if (rel === TERRARIUM_DIR) continue;
      const abs = path.join(root, rel);
      const stat = await fs.lstat(abs);
      if (stat.isDirectory()) {
        await walk(rel);
      } else if (stat.isSymbolicLink()) {
        const target = path.resolve(path.dirname(abs), await fs.readlink(abs));
        const real = await fs.realpath(abs).catch(() => undefined);
        if (!real) findings.push({ path: rel, problem: `broken symlink to ${target}` });
        else if (!isInside(target) && !isInside(real) && !isAllowed(real)) {
          const declared = declaredLinks.has(rel) ? ' (packed with --allow-outside-paths)' : '';
          findings.push({ path: rel, problem: `symlink leads outside the environment, to ${target}${declared}` });
        }
      } else if (stat.isFile()) {
        files += 1;
        if (stat.nlink > 1) shared += 1;
        if (name.endsWith('.pyc')) continue;
        const content = await fs.readFile(abs);
        for (const prefix of earlier) {
          if (content.includes(prefix))
            findings.push({
              path: rel,
              problem: `names ${prefix}, an earlier location of this environment (${content.subarray(0, 8192).includes(0) ? 'binary' : 'text'})`,
            });
        }
        const python = relDir === 'bin' ? scriptInterpreter(content) : undefined;
        if (python && !isInside(python) && !earlier.some((p) => python.startsWith(`${p}/`)))
          findings.push({ path: rel, problem: `script runs ${python}, outside the environment` });
      }
    }
  };
  await walk('');

  for (const outside of await findOutsidePaths(root)) {
    findings.push({
      path: outside.file,
      problem: `puts ${outside.target} (outside the environment) on sys.path${outside.distribution ? ` for ${outside.distribution}` : ''}`,
    });
  }
  findings.push(...(await checkInterpreter(root, cfg, env)));
  return { findings, shared, files };
}

async function checkInterpreter(root: string, cfg: Map<string, string>, env: NodeJS.ProcessEnv): Promise<Finding[]> {
  let probe: EnvironmentProbe;
  try {
    const declared = (cfg.get('version') ?? cfg.get('version_info'))?.split('.').map(Number);
    probe = await probeEnvironment(root, env, declared);
  } catch (error) {
    return [{ path: 'bin/python', problem: `does not run: ${describeCause(error)}` }];
  }
  const findings: Finding[] = [];
  if (!probe.seesItself) findings.push({ path: 'bin/python', problem: `sees sys.prefix ${probe.prefix}, not this environment` });
  const declared = cfg.get('version') ?? cfg.get('version_info');
  if (declared && declared.split('.').slice(0, 2).join('.') !== probe.version.join('.')) {
    findings.push({ path: 'pyvenv.cfg', problem: `declares Python ${declared}, but bin/python is ${probe.version.join('.')}` });
  }
  return findings;
}

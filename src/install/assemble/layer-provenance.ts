import { type Claim, ENVIRONMENT_LAYER, INTERPRETER_LAYER_PREFIX, type LayerPlan } from '../../archive/layers.js';
import type { LocalLayer } from '../../archive/save.js';
import type { StoredLayer } from '../../env/build.js';
import type { ReportedInstall } from '../../env/pip-report.js';
import { normaliseName } from '../../key/markers.js';

/**
 * Each distribution's layer given its provenance where it has one: the wheel pip installed it from
 * (`installed`, from pip's reports), for the interpreter `tag`, with no file naming the build path in
 * binary data (`binary`: such a layer differs from build to build) and no symlink (whose RECORD hash an
 * assembly could not remake).
 */
export function withProvenance(
  plans: readonly LayerPlan[],
  installed: ReadonlyArray<Pick<ReportedInstall, 'dist' | 'version' | 'artifact' | 'wheel' | 'direct'>>,
  tag: string | undefined,
  binary: readonly string[],
): LayerPlan[] {
  const unsafe = new Set(binary);
  return plans.map((plan) => {
    const named = distributionOf(plan.name);
    const from = named && installed.find((i) => i.dist === named.dist && sameVersion(i.version, named.version));
    if (!tag || !from?.wheel || from.direct || !from.artifact || plan.entries.some((entry) => unsafe.has(entry.path) || entry.type === 'symlink')) return plan;
    return { ...plan, provenance: { dist: from.dist, version: from.version, artifact: from.artifact, tag } };
  });
}

/** A distribution layer's name (its `.dist-info` folder's, `name-version`, both escaped as wheels do) as a name in normal form and a version. */
export function distributionOf(layerName: string): { dist: string; version: string } | undefined {
  const match = /^(.+)-([^-]+)$/.exec(layerName);
  if (!match || layerName === ENVIRONMENT_LAYER || layerName.startsWith(INTERPRETER_LAYER_PREFIX)) return undefined;
  return { dist: normaliseName(match[1]!), version: match[2]! };
}

/** A version as metadata gives it and as a `.dist-info` folder's name escapes it (`-` as `_`). */
export const sameVersion = (metadata: string, folder: string): boolean => metadata === folder || metadata.replace(/-/g, '_') === folder;

/**
 * The stored layer a planned layer is, byte for byte, when an assembly restored it: the same name,
 * provenance and files, none of which another distribution's RECORD claims (pip then installed over
 * it). Its blob is published as it was read, rather than packed again.
 */
export function storedLayerFor(plan: LayerPlan, claims: readonly Claim[], stored: readonly StoredLayer[]): LocalLayer | undefined {
  const candidate = stored.find((s) => s.layer.name === plan.name);
  const p = plan.provenance;
  const q = candidate?.layer.provenance;
  if (!candidate || !p || !q || p.dist !== q.dist || p.version !== q.version || p.artifact !== q.artifact || p.tag !== q.tag) return undefined;
  const files = new Set(candidate.files);
  if (plan.entries.length !== files.size || !plan.entries.every((entry) => files.has(entry.path))) return undefined;
  const others = claims.filter((claim) => claim.name !== plan.name);
  if (others.some((claim) => claim.files.some((file) => files.has(file)))) return undefined;
  return { ...candidate.layer, path: candidate.blob };
}

import path from 'node:path';
import { TerrariumError } from '../errors.js';
import type { Fingerprint } from '../python/fingerprint.js';

/** Linux's limit for a `#!` line; pip (distlib) switches to a /bin/sh trampoline beyond it. */
const MAX_SHEBANG = 127;

/**
 * Characters a prefix may not contain: console scripts quote the interpreter for /bin/sh inside a
 * Python string literal, and activate scripts for several shells, where these would be interpreted.
 */
const UNSAFE_IN_SCRIPTS = /["$`\\\n\r\0]/;

export function checkPrefixUsable(prefix: string): void {
  if (!path.isAbsolute(prefix) || UNSAFE_IN_SCRIPTS.test(prefix)) {
    throw new TerrariumError('TARGET_BAD_PATH', `target path cannot hold a Python environment: ${JSON.stringify(prefix)}`, {
      hint: 'choose a path without quotes, $, backquotes, backslashes or newlines',
    });
  }
}

export function replaceAll(content: Buffer, from: string, to: string): Buffer {
  const needle = Buffer.from(from);
  let at = content.indexOf(needle);
  if (at < 0) return content;
  const replacement = Buffer.from(to);
  const parts: Buffer[] = [];
  let start = 0;
  while (at >= 0) {
    parts.push(content.subarray(start, at), replacement);
    start = at + needle.length;
    at = content.indexOf(needle, start);
  }
  parts.push(content.subarray(start));
  return Buffer.concat(parts);
}

interface ScriptHeader {
  interpreter: string;
  args: string;
  /** Bytes taken by the header, newline(s) included. */
  length: number;
}

const TRAMPOLINE = /^#!\/bin\/sh\n(?:# -\*- coding: utf-8 -\*-\n)?'''exec' (?:"([^"]*)"|(\S+))(.*) "\$0" "\$@"\n' '''\n/;

/** Reads a `#!` line or pip's `/bin/sh` trampoline whose interpreter lies under `prefix`. */
export function parseScriptHeader(content: Buffer, prefix: string): ScriptHeader | undefined {
  const head = content.subarray(0, 4096).toString('utf8');
  const trampoline = TRAMPOLINE.exec(head);
  if (trampoline) {
    const interpreter = trampoline[1] ?? trampoline[2]!;
    if (!interpreter.startsWith(`${prefix}/`)) return undefined;
    return { interpreter, args: trampoline[3]!, length: Buffer.byteLength(trampoline[0]) };
  }
  if (!head.startsWith(`#!${prefix}/`)) return undefined;
  const end = head.indexOf('\n');
  if (end < 0) return undefined;
  const line = head.slice(2, end);
  // The prefix may hold spaces (a trampoline is then needed), so split the arguments after it.
  const rest = line.slice(prefix.length);
  const split = rest.search(/\s/);
  const interpreter = prefix + (split < 0 ? rest : rest.slice(0, split));
  return { interpreter, args: split < 0 ? '' : rest.slice(split), length: Buffer.byteLength(head.slice(0, end + 1)) };
}

/** The Python a script runs (from a `#!` line or pip's trampoline), or undefined for other scripts. */
export function scriptInterpreter(content: Buffer): string | undefined {
  const head = content.subarray(0, 4096).toString('utf8');
  const trampoline = TRAMPOLINE.exec(head);
  if (trampoline) return trampoline[1] ?? trampoline[2]!;
  return /^#!(\/[^\s]*\/python[0-9.]*)(?:\s|$)/.exec(head)?.[1];
}

/**
 * The header pip itself would write for this interpreter path. A trampoline naming a non-ASCII path
 * also declares UTF-8 on its second line: Python 2 reads a declaration only on the first two lines,
 * and the one in pip's script body comes too late after a three-line trampoline.
 */
export function scriptHeader(interpreter: string, args: string): string {
  const simple = `#!${interpreter}${args}\n`;
  if (!/\s/.test(interpreter) && Buffer.byteLength(simple) <= MAX_SHEBANG) return simple;
  // More UTF-8 bytes than characters: the path is not ASCII.
  const coding = Buffer.byteLength(interpreter) !== interpreter.length ? '# -*- coding: utf-8 -*-\n' : '';
  return `#!/bin/sh\n${coding}'''exec' "${interpreter}"${args} "$0" "$@"\n' '''\n`;
}

const SHELL_SAFE = /^[\w@%+=:,./-]+$/;

/** A word for sh, csh and fish alike: as is when it needs no quoting, else single-quoted. */
export function shellQuote(word: string): string {
  return SHELL_SAFE.test(word) ? word : `'${word.replace(/'/g, `'"'"'`)}'`;
}

/**
 * Moves an activate script (sh, csh, fish). Since the fix for CVE-2024-9287 (CPython 3.13.1, 3.12.8,
 * 3.11.11 and backports such as Debian's 3.11.2), venv writes the path as a shell-quoted bare word,
 * quoted only if it needs it; older venvs and virtualenv put it inside double or single quotes. Each
 * occurrence gets the new path in the form its place needs.
 */
export function relocateShellScript(content: Buffer, from: string, to: string): Buffer {
  const text = content.toString('utf8');
  let out = '';
  let start = 0;
  for (let at = text.indexOf(from); at >= 0; at = text.indexOf(from, start)) {
    const before = text[at - 1];
    out += text.slice(start, at);
    if (before === '"') out += to;
    else if (before === "'") out += to.replace(/'/g, `'"'"'`);
    else out += shellQuote(to);
    start = at + from.length;
  }
  return start === 0 ? content : Buffer.from(out + text.slice(start));
}

/** Moves a text file from one prefix to another; scripts get the header their new path needs. */
export function relocateText(content: Buffer, from: string, to: string): Buffer {
  const header = parseScriptHeader(content, from);
  if (!header) return replaceAll(content, from, to);
  const interpreter = to + header.interpreter.slice(from.length);
  const body = replaceAll(content.subarray(header.length), from, to);
  return Buffer.concat([Buffer.from(scriptHeader(interpreter, header.args)), body]);
}

/**
 * Moves a binary file the way conda does: each C string that starts with the old prefix gets the new
 * one and is padded with NULs to its old length, so no offset in the file moves. Only possible when the
 * new prefix is not longer than the old (usually true: the build prefix is a long staging name beside
 * the target); otherwise undefined, and the file stays as it is.
 */
export function relocateBinary(content: Buffer, from: string, to: string): Buffer | undefined {
  const needle = Buffer.from(from);
  const replacement = Buffer.from(to);
  if (replacement.length > needle.length) return undefined;
  const out = Buffer.from(content);
  for (let at = out.indexOf(needle); at >= 0; at = out.indexOf(needle, at + 1)) {
    let end = out.indexOf(0, at);
    if (end < 0) end = out.length;
    const rest = Buffer.from(out.subarray(at + needle.length, end));
    replacement.copy(out, at);
    rest.copy(out, at + replacement.length);
    out.fill(0, at + replacement.length + rest.length, end);
  }
  return out;
}

/**
 * Points pyvenv.cfg at the environment's new place and at the local interpreter; `home` is what
 * CPython reads to find its standard library, so it must name the interpreter that will run here.
 */
export function relocatePyvenvCfg(text: string, from: string, to: string, python: Fingerprint): string {
  const executable = python.executable;
  const lines = text.split('\n').map((line) => {
    const match = /^(\s*)([A-Za-z_-]+)(\s*=\s*)(.*)$/.exec(line);
    if (!match) return line;
    const [, indent, key, eq] = match;
    const set = (value: string) => `${indent}${key}${eq}${value}`;
    switch (key!.toLowerCase()) {
      case 'home':
        return set(path.dirname(executable));
      case 'executable':
      case 'base-executable':
        return set(executable);
      case 'version':
      case 'version_info':
        return set(python.version.join('.'));
      case 'base-prefix':
      case 'base-exec-prefix':
        return python.prefix ? set(python.prefix) : line;
      case 'command':
        return set(`${executable} -m venv ${to}`);
      default:
        return line.split(from).join(to);
    }
  });
  return lines.join('\n');
}

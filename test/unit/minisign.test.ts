import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  MinisignError,
  parsePublicKey,
  parseSecretKey,
  parseSignature,
  signPrehashed,
  verifyComment,
  verifyFile,
} from '../../src/sign/minisign.js';

const work = mkdtempSync(path.join(tmpdir(), 'terrarium-minisign-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const file = (name: string, text?: string) => {
  const p = path.join(work, name);
  if (text !== undefined) writeFileSync(p, text);
  return p;
};
const prehash = (p: string) => createHash('blake2b512').update(readFileSync(p)).digest();

/** The real minisign (Debian package minisign) on both sides of every format terrarium reads or writes. */
describe('minisign formats, against the minisign program', () => {
  beforeAll(() => {
    // A key pair and a signature made by minisign itself, shared by the tests that read them.
    execFileSync('minisign', ['-G', '-W', '-p', file('m.pub'), '-s', file('m.key')], { stdio: 'ignore' });
    execFileSync('minisign', ['-S', '-s', file('m.key'), '-m', file('m.data', 'signed by minisign\n'), '-t', 'terrarium-archive key=a sha256=b'], {
      stdio: 'ignore',
    });
  });

  it('terrarium keygen keys and signatures verify with minisign -V', () => {
    const pair = generateKeyPair();
    const pub = file('t.pub', pair.publicFile);
    const data = file('t.data', 'an archive\n');
    const secret = parseSecretKey(pair.secretFile);
    expect(secret.id).toBe(pair.id);
    writeFileSync(`${data}.minisig`, signPrehashed(prehash(data), 'terrarium-archive key=k sha256=00', secret));
    const ok = spawnSync('minisign', ['-V', '-m', data, '-p', pub], { encoding: 'utf8' });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('Trusted comment: terrarium-archive key=k sha256=00');
    writeFileSync(data, 'an archive, changed\n');
    expect(spawnSync('minisign', ['-V', '-m', data, '-p', pub]).status).not.toBe(0);
  });

  it('minisign -S signs with a secret key written by terrarium keygen', () => {
    const pair = generateKeyPair();
    const key = file('k2.key', pair.secretFile);
    const data = file('k2.data', 'signed by minisign with our key\n');
    execFileSync('minisign', ['-S', '-s', key, '-m', data, '-t', 'c'], { stdio: 'ignore' });
    const pub = parsePublicKey(pair.publicFile);
    const signature = parseSignature(readFileSync(`${data}.minisig`, 'utf8'));
    expect(verifyComment(signature, [pub]).id).toBe(pair.id);
    expect(verifyFile(signature, pub, prehash(data))).toBe(true);
  });

  it('reads keys made by minisign -G -W and signatures made by minisign -S', () => {
    const data = file('m.data');
    const pub = parsePublicKey(readFileSync(file('m.pub'), 'utf8'));
    const secret = parseSecretKey(readFileSync(file('m.key'), 'utf8'));
    expect(secret.id).toBe(pub.id);
    expect(readFileSync(file('m.pub'), 'utf8')).toContain(pub.id);
    const signature = parseSignature(readFileSync(`${data}.minisig`, 'utf8'));
    expect(signature.trustedComment).toBe('terrarium-archive key=a sha256=b');
    expect(verifyComment(signature, [pub]).id).toBe(pub.id);
    expect(verifyFile(signature, pub, prehash(data))).toBe(true);
    expect(verifyFile(signature, pub, createHash('blake2b512').update('other').digest())).toBe(false);
    // The base64 line alone is a key too (as minisign -P takes it).
    expect(parsePublicKey(readFileSync(file('m.pub'), 'utf8').split('\n')[1]!).id).toBe(pub.id);
  });

  it.each<[string, (text: string) => string]>([
    ['a trusted comment changed', (t) => t.replace('sha256=b', 'sha256=c')],
    [
      'the global signature changed',
      (t) => {
        const l = t.split('\n');
        l[3] = Buffer.alloc(64, 1).toString('base64');
        return l.join('\n');
      },
    ],
  ])('refuses a signature with %s', (_, tamper) => {
    const pub = parsePublicKey(readFileSync(file('m.pub'), 'utf8'));
    const signature = parseSignature(tamper(readFileSync(file('m.data.minisig'), 'utf8')));
    expect(() => verifyComment(signature, [pub])).toThrow(/does not verify/);
  });

  it.each([
    ['a leading zero digit', 0x0a],
    ['two leading zero digits', 0x00],
  ])('names a key as minisign does, with %s dropped', (_, high) => {
    const line = readFileSync(file('m.pub'), 'utf8').split('\n')[1]!;
    const bytes = Buffer.from(line, 'base64');
    // The key number is little-endian: its last byte is the id's first two digits.
    bytes[9] = high;
    bytes[8] = 0x5c;
    const crafted = bytes.toString('base64');
    const id = parsePublicKey(crafted).id;
    expect(id).not.toMatch(/^0/);
    // minisign names both key ids when they differ: the crafted key's id must read as terrarium's.
    const run = spawnSync('minisign', ['-V', '-m', file('m.data'), '-P', crafted], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(`${run.stdout}${run.stderr}`).toMatch(new RegExp(`key id in the public key is ${id}\\s*$`, 'm'));
  });

  it("refuses a signature by a key that is not trusted, and what is not minisign's", () => {
    const other = parsePublicKey(generateKeyPair().publicFile);
    const signature = parseSignature(readFileSync(file('m.data.minisig'), 'utf8'));
    expect(() => verifyComment(signature, [other])).toThrow(/not trusted/);
    for (const text of ['', 'hello', 'untrusted comment: x\nAAAA\ntrusted comment: y\nAAAA\n']) expect(() => parseSignature(text)).toThrow(MinisignError);
    for (const text of ['', 'RWQ=', 'untrusted comment: x\n!!!\n']) expect(() => parsePublicKey(text)).toThrow(MinisignError);
  });
});

import { satisfies, valid, validRange } from '@renovatebot/pep440';
import { TerrariumError } from '../errors.js';

/** PEP 508's environment markers for one interpreter (platform.*, sys.*, os.name), as Python reports them. */
export const MARKER_NAMES = [
  'os_name',
  'sys_platform',
  'platform_machine',
  'platform_python_implementation',
  'platform_release',
  'platform_system',
  'platform_version',
  'python_version',
  'python_full_version',
  'implementation_name',
  'implementation_version',
] as const;
export type MarkerEnvironment = Record<(typeof MARKER_NAMES)[number], string>;

/** What a marker is evaluated against: the interpreter's values, plus the sets that PEP 751 lock files name. */
export interface MarkerContext {
  environment: MarkerEnvironment;
  /** PEP 751's `extras` and `dependency_groups` markers; `extra` compares against neither. */
  extras: ReadonlySet<string>;
  dependencyGroups: ReadonlySet<string>;
}

type Token = { kind: 'string' | 'name' | 'op' | '(' | ')'; text: string };
type Expression = { kind: 'and' | 'or'; left: Expression; right: Expression } | { kind: 'compare'; left: Token; op: string; right: Token };

const TOKEN = /\s*(?:(["'])(.*?)\1|(\(|\))|(not\s+in\b|in\b|and\b|or\b)|(===|==|!=|<=|>=|~=|<|>)|([A-Za-z_][A-Za-z0-9_.]*))/y;
const SET_NAMES = new Set(['extras', 'dependency_groups']);

/**
 * Whether `marker` holds for `context`, following packaging's rules: a comparison is a PEP 440 version
 * comparison when both sides are versions and the operator one of PEP 440's, else a string comparison;
 * names of extras and groups are compared normalised. `where` names the marker's place in errors.
 */
export function evaluateMarker(marker: string, context: MarkerContext, where: string): boolean {
  const fail = (why: string) =>
    new TerrariumError('REQUIREMENTS_BAD_LOCK', `${where}: bad environment marker "${marker}": ${why}`, {
      hint: 'markers follow PEP 508, e.g. python_version >= "3.9" and sys_platform == "linux"',
    });
  const tokens = tokenize(marker, fail);
  let position = 0;
  const peek = () => tokens[position];
  const next = () => {
    const token = tokens[position++];
    if (!token) throw fail('it ends too early');
    return token;
  };
  const value = (): Token => {
    const token = next();
    if (token.kind !== 'string' && token.kind !== 'name') throw fail(`"${token.text}" where a name or a quoted string belongs`);
    return token;
  };
  const primary = (): Expression => {
    if (peek()?.kind === '(') {
      position++;
      const inner = either();
      if (next().kind !== ')') throw fail('a "(" is not closed');
      return inner;
    }
    const left = value();
    const op = next();
    if (op.kind !== 'op' || op.text === 'and' || op.text === 'or') throw fail(`"${op.text}" where a comparison belongs`);
    return { kind: 'compare', left, op: op.text.replace(/\s+/, ' '), right: value() };
  };
  const chain = (kind: 'and' | 'or', operand: () => Expression) => {
    let left = operand();
    while (peek()?.kind === 'op' && peek()?.text === kind) {
      position++;
      left = { kind, left, right: operand() };
    }
    return left;
  };
  const both = () => chain('and', primary);
  const either = () => chain('or', both);
  const tree = either();
  if (position < tokens.length) throw fail(`unexpected "${tokens[position]!.text}"`);
  return evaluate(tree, context, fail);
}

function tokenize(marker: string, fail: (why: string) => Error): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < marker.length && marker.slice(TOKEN.lastIndex).trim()) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(marker);
    if (!match) throw fail(`cannot read it from "${marker.slice(at).trim()}"`);
    if (match[1] !== undefined) tokens.push({ kind: 'string', text: match[2]! });
    else if (match[3]) tokens.push({ kind: match[3] as '(' | ')', text: match[3] });
    else if (match[4] || match[5]) tokens.push({ kind: 'op', text: (match[4] ?? match[5])! });
    else tokens.push({ kind: 'name', text: match[6]! });
  }
  return tokens;
}

function evaluate(tree: Expression, context: MarkerContext, fail: (why: string) => Error): boolean {
  if (tree.kind !== 'compare') {
    const left = evaluate(tree.left, context, fail);
    return tree.kind === 'and' ? left && evaluate(tree.right, context, fail) : left || evaluate(tree.right, context, fail);
  }
  const { left, op, right } = tree;
  const set = [left, right].find((token) => token.kind === 'name' && SET_NAMES.has(token.text));
  if (set) {
    if (set !== right || left.kind !== 'string' || (op !== 'in' && op !== 'not in')) throw fail(`${set.text} can only follow "in" or "not in"`);
    const members = set.text === 'extras' ? context.extras : context.dependencyGroups;
    return members.has(normaliseName(left.text)) === (op === 'in');
  }
  const names = [left, right].filter((token) => token.kind === 'name');
  const isExtra = names.some((token) => token.text === 'extra');
  const resolve = (token: Token): string => {
    if (token.kind === 'string') return isExtra ? normaliseName(token.text) : token.text;
    // An `extra` marker asks which extra is being installed: lock files install none by that name.
    if (token.text === 'extra') return '';
    if (!(token.text in context.environment)) throw fail(`unknown name "${token.text}"`);
    return context.environment[token.text as keyof MarkerEnvironment];
  };
  return compare(resolve(left), op, resolve(right), fail);
}

function compare(left: string, op: string, right: string, fail: (why: string) => Error): boolean {
  if (op === 'in') return right.includes(left);
  if (op === 'not in') return !right.includes(left);
  if (valid(left) && validRange(`${op}${right}`)) return satisfies(left, `${op}${right}`, { prereleases: true });
  switch (op) {
    case '==':
    case '===':
      return left === right;
    case '!=':
      return left !== right;
    case '<':
      return left < right;
    case '<=':
      return left <= right;
    case '>':
      return left > right;
    case '>=':
      return left >= right;
    default:
      throw fail(`"${op}" compares versions, and "${left}" or "${right}" is not one`);
  }
}

/** PEP 503's normal form of a project, extra or group name. */
export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

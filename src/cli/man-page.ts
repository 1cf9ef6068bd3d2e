import { TOOL_VERSION } from '../version.js';
import { COMMANDS, EXIT_CODES_HELP } from './command-table.js';
import { GROUP_TITLES, OPTION_GROUPS } from './option-spec.js';
import { commandOptionSpecs, optionSpecs } from './option-table.js';

/** Text as roff prints it: backslashes and dashes escaped, no line taken for a request. */
const roff = (text: string) =>
  text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');

/** `--target <dir>` as a man page sets it: the flags bold, the value italic. */
function flags(text: string): string {
  return text
    .split(/,\s*/)
    .map((part) => {
      const [flag, value] = part.split(' ');
      return `\\fB${roff(flag!)}\\fR${value ? ` \\fI${roff(value.replace(/[<>]/g, ''))}\\fR` : ''}`;
    })
    .join(', ');
}

/**
 * terrarium(1), from the same tables as --help (commands, options, exit codes), so that the two never
 * disagree. The build writes it to dist/terrarium.1; npm installs it with the package.
 */
export function manPage(): string {
  const out = [
    `.TH TERRARIUM 1 "" "terrarium ${TOOL_VERSION}" "User Commands"`,
    '.SH NAME',
    'terrarium \\- package and ship relocatable Python virtual environments',
    '.SH SYNOPSIS',
    '.B terrarium',
    '[\\fIoptions\\fR] \\fICOMMAND\\fR [\\fIrequirements files\\fR...]',
    '.SH DESCRIPTION',
    roff(
      'terrarium install computes a key from the CPU architecture, the Python version and a digest of the requirement files. If an archive for that key is stored, it is downloaded, verified, unpacked beside the target, relocated and swapped in atomically, the old environment kept as a backup. If not, the environment is built once with python -m venv and pip, packed, published and installed.',
    ),
    '.SH COMMANDS',
  ];
  for (const command of COMMANDS) {
    out.push(
      '.TP',
      `\\fB${roff(command.name)}\\fR${command.argument ? ` \\fI${roff(command.argument[0].replace(/[<>]/g, ''))}\\fR` : ''}`,
      roff(command.summary),
    );
    for (const option of command.options ? commandOptionSpecs(command.options) : []) out.push('.RS', '.TP', flags(option.flags), roff(option.help), '.RE');
  }
  out.push('.SH OPTIONS');
  const specs = optionSpecs();
  for (const group of OPTION_GROUPS) {
    out.push(`.SS ${GROUP_TITLES[group].replace(/:$/, '')}`);
    for (const [, spec] of specs.filter(([, s]) => s.group === group)) {
      const notes = [(spec.env ?? spec.envNote) ? `environment: ${spec.env ?? spec.envNote}` : '', spec.default !== undefined ? `default: ${spec.default}` : '']
        .filter(Boolean)
        .join('; ');
      out.push('.TP', flags(spec.flags), roff(spec.help + (notes ? ` (${notes})` : '')));
    }
  }
  const exitCodes = EXIT_CODES_HELP.slice(EXIT_CODES_HELP.indexOf('Exit codes:') + 'Exit codes:'.length)
    .trim()
    .replace(/\s*\n\s*/g, ' ');
  out.push(
    '.SH EXIT STATUS',
    roff(exitCodes),
    '.SH FILES',
    '.TP',
    '\\fBterrarium.toml\\fR, \\fBpyproject.toml\\fR [tool.terrarium]',
    roff('Defaults for any option, in the current directory or the nearest one above; terrarium config shows each value and its source.'),
    '.TP',
    '\\fB$XDG_CACHE_HOME/terrarium/v1\\fR',
    roff('The local cache (--cache-dir).'),
    '.SH SEE ALSO',
    'minisign(1), python3(1), pip(1)',
  );
  return `${out.join('\n')}\n`;
}

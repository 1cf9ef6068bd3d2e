import type { Command } from 'commander';

/** What shells need to complete a command line: commands, and options with whether they take a value. */
export interface CliDescription {
  commands: Array<{ name: string; summary: string }>;
  options: Array<{ flags: string[]; summary: string; takesValue: boolean; choices: string[] | undefined; takesFile: boolean }>;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function describeCli(program: Command): CliDescription {
  return {
    commands: program.commands.map((command) => ({ name: command.name(), summary: command.description() })),
    options: program.options.map((option) => ({
      flags: [option.short, option.long].filter((flag): flag is string => Boolean(flag)),
      summary: option.description,
      takesValue: option.required || option.optional,
      choices: option.argChoices,
      takesFile: /<(dir|interpreter)>/.test(option.flags),
    })),
  };
}

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** A completion script for `shell`, generated from the command line's own definition (so it never drifts). */
export function completionScript(shell: Shell, cli: CliDescription): string {
  switch (shell) {
    case 'bash':
      return bash(cli);
    case 'zsh':
      return zsh(cli);
    case 'fish':
      return fish(cli);
  }
}

function bash(cli: CliDescription): string {
  const valued = cli.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
  const choices = cli.options
    .filter((o) => o.choices)
    .map((o) => `    ${o.flags.join('|')}) COMPREPLY=($(compgen -W ${quote(o.choices!.join(' '))} -- "$cur")); return ;;`);
  return `# terrarium completion for bash: source it, or save it as ~/.local/share/bash-completion/completions/terrarium
_terrarium() {
  local cur prev
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case "$prev" in
${choices.join('\n')}
    ${valued.join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W ${quote(cli.options.flatMap((o) => o.flags).join(' '))} -- "$cur"))
    return
  fi
  local word
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in ${cli.commands.map((c) => c.name).join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;; esac
  done
  COMPREPLY=($(compgen -W ${quote(cli.commands.map((c) => c.name).join(' '))} -- "$cur"))
}
complete -o filenames -F _terrarium terrarium
`;
}

function zsh(cli: CliDescription): string {
  const escapeSpec = (text: string) => text.replace(/[[\]:']/g, (c) => (c === "'" ? `'\\''` : `\\${c}`));
  const specs = cli.options.map((o) => {
    const names = o.flags.length > 1 ? `{${o.flags.join(',')}}` : o.flags[0]!;
    const value = !o.takesValue ? '' : o.choices ? `:value:(${o.choices.join(' ')})` : o.takesFile ? ':path:_files' : ':value:';
    return `    ${o.flags.length > 1 ? `'(${o.flags.join(' ')})'` : ''}${names}'[${escapeSpec(o.summary)}]${value}'`;
  });
  const commands = cli.commands.map((c) => `      ${quote(`${c.name}:${escapeSpec(c.summary)}`)}`);
  return `#compdef terrarium
# terrarium completion for zsh: save it as _terrarium in a folder on $fpath (then compinit)
_terrarium() {
  local -a commands
  commands=(
${commands.join('\n')}
  )
  _arguments -s \\
${specs.join(' \\\n')} \\
    '1:command:{_describe command commands}' \\
    '*:file:_files'
}
if [ "$funcstack[1]" = "_terrarium" ]; then _terrarium "$@"; else compdef _terrarium terrarium; fi
`;
}

function fish(cli: CliDescription): string {
  const lines = ['# terrarium completion for fish: save it as ~/.config/fish/completions/terrarium.fish', 'complete -c terrarium -f'];
  for (const c of cli.commands) lines.push(`complete -c terrarium -n __fish_use_subcommand -a ${c.name} -d ${quote(c.summary)}`);
  for (const o of cli.options) {
    const parts = ['complete -c terrarium'];
    for (const flag of o.flags) parts.push(flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`);
    if (o.takesValue) parts.push(o.choices ? `-x -a ${quote(o.choices.join(' '))}` : o.takesFile ? '-r -F' : '-x');
    parts.push(`-d ${quote(o.summary)}`);
    lines.push(parts.join(' '));
  }
  lines.push(`complete -c terrarium -n 'not __fish_use_subcommand' -F`);
  return `${lines.join('\n')}\n`;
}

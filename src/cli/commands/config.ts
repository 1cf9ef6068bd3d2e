import { EXIT } from '../../errors.js';
import type { CommandHandler } from '../context.js';

/** `terrarium config`: every setting, its value and its source; secrets come out masked (the reporter masks them). */
export const configCommand: CommandHandler = async ({ settings, effective, configFile, reporter }) => {
  const rows = effective();
  if (settings.json) {
    reporter.document({
      configFile: configFile ?? null,
      settings: Object.fromEntries(rows.map((row) => [row.option, { value: row.value ?? null, source: row.source }])),
    });
    return EXIT.ok;
  }
  reporter.info(configFile ? `defaults from ${configFile}` : 'no terrarium.toml or [tool.terrarium] in pyproject.toml here or above');
  const width = Math.max(...rows.map((row) => row.option.length));
  for (const row of rows) {
    const value = row.value === undefined ? '-' : JSON.stringify(row.value);
    reporter.result(`${row.option.padEnd(width)}  ${value.padEnd(24)}  ${row.source}`);
  }
  return EXIT.ok;
};

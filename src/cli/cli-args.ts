// The command-line tools' argument reading: node's parseArgs with its failures turned into typed
// errors, numbers read by the engine's own rules (src/core/numbers.ts), and the output file's
// folder checked before any model loads, so a typo costs no download and no run.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { AtmanError } from '../core/errors';
import { type NumberRule, readNumber } from '../core/numbers';

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs (strict) with two differences: a negative number after a flag that takes a value is
 * that flag's value (parseArgs calls `--factor -1` ambiguous), so the range check can say what
 * the flag allows; and every parse failure is an AtmanError BAD_SETTING in words.
 */
export function parseCliArgs<O extends Options>(argv: readonly string[], options: O) {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : null;
    const next = argv[i + 1];
    if (name !== null && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (e) {
    throw new AtmanError('BAD_SETTING', describeParseError(e as Error & { code?: string }));
  }
}

function describeParseError(e: Error & { code?: string }): string {
  const flag = /'(-{1,2}[^'\s]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `Unknown option ${flag ?? ''}; run with --help for the list.`.replace('  ', ' ');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return flag ? `${flag} needs a value after it (write ${flag}=VALUE when the value starts with "-").` : 'An option is missing its value.';
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `Unexpected argument ${JSON.stringify(/'([^']*)'/.exec(e.message)?.[1] ?? '')}: every value belongs after an --option (quote text with spaces).`;
    default:
      return `Cannot read the command line: ${e.message}`;
  }
}

/** A flag's number by its field's rule, or undefined when the flag is absent. */
export function flagNumber(value: string | undefined, flag: string, rule: NumberRule): number | undefined {
  return value === undefined ? undefined : readNumber(value, rule, flag);
}

/**
 * Throws BAD_SETTING unless `file` can be written where it is: its folder exists, is a folder and
 * is writable, and the file itself, when it exists, is not a folder.
 */
export function checkOutputFile(file: string, flag: string): void {
  const folder = dirname(resolve(file));
  const fail = (why: string): never => {
    throw new AtmanError('BAD_SETTING', `${flag} ${file}: ${why}`);
  };
  let isDir = false;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    fail(`the folder ${folder} does not exist; create it first or write the file elsewhere.`);
  }
  if (!isDir) fail(`${folder} is not a folder.`);
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    fail(`the folder ${folder} is not writable.`);
  }
  try {
    if (statSync(file).isDirectory()) fail('that is a folder; name a file.');
  } catch (e) {
    if (e instanceof AtmanError) throw e;
  }
}

// Words written into a shell script (the image recipe's RUN lines, the hooks Job's `sh -c`) or
// into a command a fix tells the user to paste (errors.ts): a version may hold a space or a
// quote (SPEC 1.2 only asks it to start with a digit), and the app's directory carries it, so
// every interpolated word is quoted when it must be.

/** Characters the shell takes literally in a word: left as they are, so the script stays readable. */
const PLAIN = /^[A-Za-z0-9_./:=@%+,-]+$/;

/** `text` as one shell word: as it is when plain, else single-quoted. */
export function shellWord(text: string): string {
  return PLAIN.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `words` as one shell command line, each its own word. */
export function shellLine(words: string[]): string {
  return words.map(shellWord).join(' ');
}

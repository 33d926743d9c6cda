// The fix for an `app:` value written as a file path (`myapp/wsgi:app`, `./myapp/wsgi.py:app`):
// the line to write instead, with only the module part turned into the dotted name Python
// imports. The object after the colon is the user's own name and is never rewritten: turning
// every `/` of the value into `.` made `./myapp/wsgi:app` read `..myapp.wsgi:app` and `app/x`
// read `app.x`, fixes that did not load either.

/** One Python name, or several joined by dots, as the schema takes either side of `module:object`. */
const DOTTED = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;
/** What the schema takes after the colon: a dotted name, called when it ends in `()`. */
const OBJECT = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\(\))?$/;

/**
 * `text` (a module written as a file: `myapp/wsgi.py`, `./myapp/wsgi`) as Python imports it
 * from the package's directory, or null when no dotted name comes of it (an absolute path, a
 * `..`, a directory name Python cannot import such as `my-app`).
 */
export function moduleOfPath(text: string): string | null {
  const parts = text.replace(/\.py$/, '').split(/[/\\]/).filter((part, i) => !(part === '.' || (part === '' && i > 0)));
  const module = parts.join('.');
  return parts.length > 0 && parts[0] !== '' && DOTTED.test(module) ? module : null;
}

/**
 * `key: value` as its writer writes it: `app: a.b:app` at the top, and under `wsgi:` or `asgi:`
 * the same line said to go there. `wsgi.app: a.b:app` (how a message names the key) is no line
 * of YAML: written as such, it is one key with a dot in its name, refused as unknown.
 */
export function appLine(key: string, value: string): string {
  const dot = key.indexOf('.');
  return dot === -1 ? `${key}: ${value}` : `${key.slice(dot + 1)}: ${value} under ${key.slice(0, dot)}:`;
}

/** An `app:` to show: a module, its file and the object in it, of the app's kind. */
export interface AppExample { readonly file: string; readonly module: string; readonly object: string }

/**
 * The fix for `key: value`, `value` holding a colon and a `/`, `\` or `.py:`: the corrected line
 * when it can be made, else what a module name is, naming the part that cannot be one; `example`
 * is of the app's kind, for the parts the value does not give.
 */
export function pathAppFix(key: string, value: string, example: AppExample): string {
  const colon = value.indexOf(':');
  const file = value.slice(0, colon);
  const object = value.slice(colon + 1);
  const module = moduleOfPath(file);
  if (module === null) {
    return `name the module as Python imports it from the package's directory, with dots, not as a file path: ${JSON.stringify(file)} gives no such name; e.g. the file ${example.file} is written ${appLine(key, `${example.module}:${OBJECT.test(object) ? object : example.object}`)}`;
  }
  const written = `${module}:${object}`;
  if (!OBJECT.test(object)) {
    return `name the module with dots, not as a file, and the object as a Python name: ${appLine(key, `${module}:${example.object}`)} if the object is ${example.object} (${JSON.stringify(object)} is not a Python name)`;
  }
  return `name the module with dots, not as a file: write ${appLine(key, written)} (the file ${file.replace(/^(\.[/\\])+/, '').replace(/\.py$/, '')}.py is the module ${module})`;
}

// How a key of app.yaml or the environment file is named in messages (`processes.ws.route`),
// apart from the parsed file (yaml-file.ts): commands that only name a key, as `status` and
// `logs` do through run-as.ts, then do not load the YAML parser (~45 ms of each run).

/** Keys and list indexes from the document root, e.g. ['processes', 'ws', 'route']. */
export type YamlPath = readonly (string | number)[];

/** `processes.ws.route`, `deb[1]`, `static["/static"]`: how a key is named in messages. */
export function keyLabel(at: YamlPath): string {
  let label = '';
  for (const segment of at) {
    if (typeof segment === 'number') label += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) label += label === '' ? segment : `.${segment}`;
    else label += `[${printable(JSON.stringify(segment))}]`;
  }
  return label;
}

/**
 * `text` with what a terminal would not show as written (format and private-use characters,
 * and U+FFFD, which a terminal shows for bytes that are not UTF-8) escaped as \uXXXX;
 * JSON.stringify has done the control characters already.
 */
function printable(text: string): string {
  return text.replace(/[\p{C}\uFFFD]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

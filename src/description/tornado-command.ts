// The processes.web that runs a Tornado app: what `init` writes for one, and what the refusal of
// one named in `app:` shows (APPPKG_APP_OTHER_KIND), so that the two never say different things.

/**
 * The `processes:` lines (unindented) that start Tornado's server on $PORT for `object` of
 * `module` (`application`, or a factory's call `make_app()`), as Tornado's docs start it
 * (`listen` in `asyncio.run`): a Tornado app is neither WSGI nor ASGI, and its own `__main__`
 * listens on a port of its choosing.
 */
export function tornadoProcessLines(module: string, object: string): string[] {
  return [
    'processes:',
    '  web:',
    '    command: |',
    "      exec python -c '",
    '      import asyncio, os',
    `      from ${module} import ${object.replace(/\(\)$/, '')}`,
    '      async def main():',
    `          ${object}.listen(int(os.environ["PORT"]), address="127.0.0.1")`,
    '          await asyncio.Event().wait()',
    "      asyncio.run(main())'",
  ];
}

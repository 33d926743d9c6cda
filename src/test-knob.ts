// A bound the test suite alone may lower, so that a test of what happens past it does not wait
// out the real one (a minute, 20 s, 10 MB). Never a setting: the docs name none of these
// variables, and anything but a positive number leaves the real bound.

/** `fallback`, unless the variable `name` holds a positive number. */
export function testKnob(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return value > 0 ? value : fallback;
}

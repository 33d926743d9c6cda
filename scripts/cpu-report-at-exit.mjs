// Imported (--import) into a process spawnNodeMeasured starts (process-cpu.mjs): as it exits,
// once every child it waited for is in its figures, it writes its CPU seconds to the file
// CPU_REPORT_ENV names, which its parent can no longer read from /proc once it has gone.
import { writeFileSync } from 'node:fs';
import { CPU_REPORT_ENV, cpuSeconds } from './process-cpu.mjs';

const report = process.env[CPU_REPORT_ENV];
// This process's alone: a Node process a test starts with its environment and execArgv would
// write over it with its own, smaller figure.
delete process.env[CPU_REPORT_ENV];
if (report) {
  process.on('exit', () => {
    const cpu = cpuSeconds('self');
    if (cpu === undefined) return;
    try {
      writeFileSync(report, String(cpu));
    } catch {
      // The runner's directory gone (it was interrupted): nothing reads it.
    }
  });
}

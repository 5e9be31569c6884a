/** Run `imgp2p simulate` without the bin dispatcher: node dist/bench/sim/run.js [args]. */
import { runSimulateCommand } from '../../src/cli/simulate.js'

process.exitCode = await runSimulateCommand(process.argv.slice(2))

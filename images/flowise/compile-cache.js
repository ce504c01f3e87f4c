// Run once at image build with NODE_COMPILE_CACHE set: loads what `flowise start` and
// `flowise worker` load before they connect anywhere (the commands, hence the whole server,
// and every component node through NodesPool), then writes Node's compile cache, so that each
// replica of the image starts from compiled code. Prints how long the loading took.
const started = process.hrtime.bigint();
const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
const module_ = require('module');

require('flowise/dist/commands/start');
require('flowise/dist/commands/worker');
const commands = seconds();
const { NodesPool } = require('flowise/dist/NodesPool');
const quiet = console.error;
console.error = () => {}; // the three nodes that fail to load in 3.1.4 say so at length
new NodesPool()
  .initialize()
  .catch(() => {})
  .then(() => {
    console.error = quiet;
    const nodes = seconds() - commands;
    module_.flushCompileCache?.();
    const cache = module_.getCompileCacheDir?.() ?? 'none';
    console.log(`commands ${commands.toFixed(1)} s, nodes ${nodes.toFixed(1)} s, cache ${cache}`);
    process.exit(0);
  });

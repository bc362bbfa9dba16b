// Node preload (`node --require force-loopback.cjs`): every TCP server listens on 127.0.0.1 only.
// server-everything and the inspector call listen(PORT) with no host, which means all interfaces; tests must
// not expose anything beyond the machine.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (typeof first === "object" && first !== null && !Array.isArray(first)) {
    if (first.port !== undefined && first.path === undefined) args[0] = { ...first, host: "127.0.0.1" };
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    if (typeof args[1] === "string") args[1] = "127.0.0.1";
    else args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};

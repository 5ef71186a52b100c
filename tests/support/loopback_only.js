// Preloaded into node (--require) by tests/support/lsp.py: the language server may talk to
// nothing but loopback. A schema store or meta-schema fetch would leave the machine; it is
// refused here and reported on stderr, and the test fails on that line.
"use strict";
const net = require("net");
const dns = require("dns");

const loopback = (host) => !host || host === "localhost" || host === "::1" || /^127\./.test(host);

function refuse(what) {
  process.stderr.write(`LOOPBACK-ONLY: refused ${what}\n`);
  throw new Error(`loopback only: refused ${what}`);
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  const options = typeof args[0] === "object" && args[0] !== null ? (Array.isArray(args[0]) ? args[0][0] : args[0]) : { port: args[0], host: args[1] };
  if (options && !options.path && !loopback(options.host)) refuse(`a connection to ${options.host}:${options.port}`);
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  if (!loopback(host)) refuse(`a name lookup of ${host}`);
  return lookup.call(this, host, ...rest);
};

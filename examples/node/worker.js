#!/usr/bin/env node
// A multiplexing FastCGI worker on node-fastcgi (Debian: node-fastcgi, on the
// machine's Node.js; the module lives in /usr/share/nodejs/node-fastcgi).
//
//   node examples/node/worker.js 127.0.0.1:9200 [NAME]
//
// What node-fastcgi 1.3.3 does on the wire (checked with
// examples/mux_probe.py, see examples/README.md):
//   - FCGI_GET_VALUES: FCGI_MPXS_CONNS=1, FCGI_MAX_CONNS=2000,
//     FCGI_MAX_REQS=2000 (its defaults; MAX_CONNS/MAX_REQS env vars change
//     what it announces, it enforces neither).
//   - It truly interleaves: every request id on a connection is its own
//     stream; a /sleep on id 1 does not hold back id 2's answer.
//   - The 'request' event fires when PARAMS end, before STDIN is complete;
//     the body is read as a stream.
//   - FCGI_ABORT_REQUEST is exposed: req emits 'aborted', and node-fastcgi
//     answers FCGI_END_REQUEST itself. We log "aborted id=N uri=..." (stderr,
//     or appended to $WORKER_ABORT_LOG).
//   - Without FCGI_KEEP_CONN it closes the connection after END_REQUEST;
//     as packaged it never sees FCGI_KEEP_CONN (see the patch below), so
//     this worker sets the missing flag name at start.
//
// Endpoints: /hello, /echo (POST: the body back), /bytes?n=N (N bytes of
// 'x' in 64 KiB writes that wait for the socket), /sleep?ms=N, /tag?t=X (X;
// &ms=N answers after N ms), /healthz. Every response has X-Worker: NAME.
'use strict';

const fs = require('fs');
// Debian installs Node modules under /usr/share/nodejs, which Debian's own
// node searches but another Node.js on the machine (nodesource's) does not;
// node-fastcgi itself requires fastcgi-stream from there, so the directory
// goes into the global search path rather than into one require() call.
if (!(process.env.NODE_PATH || '').split(':').includes('/usr/share/nodejs')) {
  process.env.NODE_PATH = ['/usr/share/nodejs', process.env.NODE_PATH].filter(Boolean).join(':');
  require('module').Module._initPaths();
}
const fcgi = require('node-fastcgi');

// Debian's node-fastcgi 1.3.3 reads FCGI_KEEP_CONN as
// BeginRequest.flags.KEEP_CONN, but Debian's fastcgi-stream names the flag
// KEEPCONN: the test is always false, so node-fastcgi closes the connection
// after the first FCGI_END_REQUEST on it, aborting every other request in
// flight there, although it announced FCGI_MPXS_CONNS=1. Giving the flag
// its other name too makes keep-alive (and so multiplexing) work.
// NODE_FASTCGI_UNPATCHED=1 keeps the packaged behaviour, to test a gateway
// against it.
if (process.env.NODE_FASTCGI_UNPATCHED !== '1') {
  const flags = require('fastcgi-stream').records.BeginRequest.flags;
  if (flags.KEEP_CONN === undefined) flags.KEEP_CONN = flags.KEEPCONN;
}

const addr = process.argv[2] || '127.0.0.1:9200';
const name = process.argv[3] || process.env.WORKER_NAME || 'node';
const colon = addr.lastIndexOf(':');
const host = addr.slice(0, colon);
const port = parseInt(addr.slice(colon + 1), 10);
const abortLog = process.env.WORKER_ABORT_LOG || '';

function logAbort(line) {
  if (abortLog) fs.appendFileSync(abortLog, line + '\n');
  else process.stderr.write(line + '\n');
}

function query(url) {
  const q = {};
  const i = url.indexOf('?');
  if (i < 0) return q;
  for (const kv of url.slice(i + 1).split('&')) {
    const eq = kv.indexOf('=');
    if (eq < 0) q[decodeURIComponent(kv)] = '';
    else q[decodeURIComponent(kv.slice(0, eq))] = decodeURIComponent(kv.slice(eq + 1));
  }
  return q;
}

function send(res, status, body, type) {
  const buf = Buffer.from(body);
  res.writeHead(status, {
    'Content-Type': type || 'text/plain',
    'Content-Length': buf.length,
    'X-Worker': name,
  });
  res.end(buf);
}

// N bytes of 'x', one 64 KiB write at a time, the next only once the
// previous one reached the socket (node-fastcgi calls back when its record
// is written), so a slow reader slows this loop rather than filling memory.
function streamBytes(req, res, n) {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n,
                       'X-Worker': name });
  const chunk = Buffer.alloc(65536, 'x');
  let left = n;
  let stopped = false;
  req.on('aborted', () => { stopped = true; });
  const next = () => {
    if (stopped) return;
    if (left <= 0) { res.end(); return; }
    const len = Math.min(left, chunk.length);
    left -= len;
    if (res.write(len === chunk.length ? chunk : chunk.subarray(0, len))) setImmediate(next);
    else res.once('drain', next);
  };
  next();
}

const server = fcgi.createServer((req, res) => {
  const params = req.cgiParams || {};
  const id = req.socket && req.socket._id;
  req.on('aborted', () => {
    logAbort(`aborted id=${id} uri=${req.url}`);
  });
  // Writes after an abort raise 'error' on the response; the request is over.
  res.on('error', () => {});

  const path = (params.PATH_INFO || req.url.split('?')[0]) || '/';
  const q = query(req.url);
  if (path === '/hello') return send(res, 200, 'hello from ' + name + '\n');
  if (path === '/healthz') return send(res, 200, 'ok\n');
  if (path === '/tag' && !q.ms) return send(res, 200, q.t || '');
  if (path === '/echo') {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => send(res, 200, Buffer.concat(parts), 'application/octet-stream'));
    return;
  }
  if (path === '/bytes') return streamBytes(req, res, Math.max(0, parseInt(q.n || '0', 10) || 0));
  if (path === '/sleep' || path === '/tag') {
    const ms = Math.max(0, parseInt(q.ms || '0', 10) || 0);
    const answer = path === '/tag' ? (q.t || '') : 'slept ' + ms + '\n';
    const t = setTimeout(() => send(res, 200, answer), ms);
    req.on('aborted', () => clearTimeout(t));
    return;
  }
  return send(res, 404, 'not found\n');
}, {
  maxConns: parseInt(process.env.MAX_CONNS || '0', 10) || undefined,
  maxReqs: parseInt(process.env.MAX_REQS || '0', 10) || undefined,
  multiplex: process.env.MPXS_CONNS !== '0',
});

// node-fastcgi writes each record separately (head, body, end of stream,
// END_REQUEST); with Nagle's algorithm the last small ones wait for the
// gateway's delayed ACK, ~40 ms per response.
server.on('connection', (socket) => socket.setNoDelay(true));
server.on('protocolError', (err) => process.stderr.write('protocol error: ' + err.message + '\n'));
server.listen(port, host, () => {
  process.stderr.write(`event=listening addr=${host}:${server.address().port} worker=${name}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// What the Node SDK tests share: the SDK's packages from the project's node_modules
// ($MDB_NODE_MODULES, installed by scripts/setup.sh), the build ($MDB_BUILD), and metadata that
// carries a token. Not a test file (node --test runs *.test.js).
'use strict';
const path = require('node:path');

const MODULES = process.env.MDB_NODE_MODULES;
const BUILD = process.env.MDB_BUILD;
const req = (m) => require(require.resolve(m, { paths: [path.dirname(MODULES)] }));
const grpc = req('@grpc/grpc-js');
const { createChannel, createClient, Metadata } = req('nice-grpc');
const auth = (token) => ({ '*': { metadata: Metadata({ authorization: `Bearer ${token}` }) } });

module.exports = { BUILD, req, grpc, createChannel, createClient, Metadata, auth };

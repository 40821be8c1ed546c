// The openrds web console. No framework, no build step: this file is served as is.
//
// Every call goes to this origin's `/` as the official SDKs send it, signed in the
// browser with signature V3 (ACS3-HMAC-SHA256, WebCrypto). The AccessKey lives in this
// tab's sessionStorage only; it leaves the browser as signatures, never as itself.
// Pages are built with DOM calls and textContent only, so no value from the API is ever
// parsed as HTML.
'use strict';

(() => {
  const VERSION = '2014-08-15';
  const SESSION_KEY = 'openrds.console.session';
  const STABLE_STATES = new Set(['Running', 'Stopped']);
  const IMPORT_ENDED = new Set(['Success', 'Failed', 'Canceled']);
  const DEFAULT_VERSIONS = { PostgreSQL: ['15.0'], MariaDB: ['10.11'] };
  const DEFAULT_CHARSET = { PostgreSQL: 'UTF8', MariaDB: 'utf8mb4' };
  const POLL_MS = { instances: 2000, detail: 2000, import: 1000, backup: 2000 };

  const $ = (id) => document.getElementById(id);
  const encoder = new TextEncoder();

  // ------------------------------------------------------------------------------------
  // Signature V3, as crates/wire/src/v3.rs verifies it
  // ------------------------------------------------------------------------------------

  const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');

  async function sha256Hex(text) {
    return hex(await crypto.subtle.digest('SHA-256', encoder.encode(text)));
  }

  // Alibaba's encoding: UTF-8, only A-Z a-z 0-9 - _ . ~ kept, upper-case %XY otherwise.
  function percentEncode(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
  }

  // RPC parameters as the SDKs flatten them: lists as Name.1, Name.2; maps as Name.Key.
  function flatten(params, prefix = '', out = []) {
    for (const [name, value] of Object.entries(params)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (value === undefined || value === null) continue;
      if (Array.isArray(value)) {
        value.forEach((v, i) => flatten({ [i + 1]: v }, key, out));
      } else if (typeof value === 'object') {
        flatten(value, key, out);
      } else {
        out.push([key, String(value)]);
      }
    }
    return out;
  }

  // Pairs encoded, sorted by encoded name, joined: both the URL's query and its canonical form.
  function canonicalQuery(pairs) {
    return pairs
      .map(([k, v]) => [percentEncode(k), percentEncode(v)])
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
  }

  function newNonce() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return hex(bytes);
  }

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId || '';
    }
  }

  let session = null; // { keyId, region, key: CryptoKey }

  async function hmacKey(secret) {
    return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  async function call(action, params = {}, as = session) {
    if (!as) throw new ApiError(0, 'NotSignedIn', 'Sign in first.', '');
    // Duplicate names cannot happen: flatten yields each key once.
    const query = canonicalQuery(flatten(params));
    const payloadHash = await sha256Hex('');
    // The browser sets Host itself, to exactly this: sign what it will send.
    const signed = {
      host: location.host,
      'x-acs-action': action,
      'x-acs-content-sha256': payloadHash,
      'x-acs-date': new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'x-acs-signature-nonce': newNonce(),
      'x-acs-version': VERSION,
    };
    const names = Object.keys(signed).sort();
    const canonicalHeaders = names.map((n) => `${n}:${signed[n].trim()}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = ['POST', '/', query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
    const stringToSign = 'ACS3-HMAC-SHA256\n' + (await sha256Hex(canonicalRequest));
    const signature = hex(await crypto.subtle.sign('HMAC', as.key, encoder.encode(stringToSign)));

    const headers = { ...signed };
    delete headers.host;
    headers.accept = 'application/json';
    headers.authorization = `ACS3-HMAC-SHA256 Credential=${as.keyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
    let response;
    try {
      response = await fetch('/?' + query, { method: 'POST', headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
    } catch (e) {
      throw new ApiError(0, 'NetworkError', `${action}: the server did not answer (${e.message}).`, '');
    }
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      throw new ApiError(response.status, `HTTP${response.status}`, `${action}: the answer is not JSON (HTTP ${response.status}).`, response.headers.get('x-acs-request-id'));
    }
    if (!response.ok || (body && body.Code)) {
      throw new ApiError(response.status, body.Code || `HTTP${response.status}`, body.Message || response.statusText, body.RequestId);
    }
    return body;
  }

  // ------------------------------------------------------------------------------------
  // Session: sessionStorage only
  // ------------------------------------------------------------------------------------

  async function restoreSession() {
    let saved = null;
    try {
      saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    } catch (e) {
      saved = null;
    }
    if (!saved || !saved.keyId || !saved.secret) return null;
    return { keyId: saved.keyId, region: saved.region || 'cn-hangzhou', key: await hmacKey(saved.secret) };
  }

  function signOut() {
    sessionStorage.removeItem(SESSION_KEY);
    session = null;
    stopAll();
    clearError();
    $('signin-form').reset();
    go('#/signin');
  }

  // Shows `hash`; route() runs once, from hashchange or here when the hash is already it.
  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ------------------------------------------------------------------------------------
  // DOM helpers
  // ------------------------------------------------------------------------------------

  // h('td', {class: 'x', dataset: {testid: 'y'}}, 'text', childNode, ...)
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'dataset') Object.assign(el.dataset, value);
      else if (name === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (name === 'class') el.className = value;
      else if (name in el && typeof el[name] !== 'function' && name !== 'list') el[name] = value;
      else el.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function statusBadge(status, testid) {
    const s = status || 'Unknown';
    return h('span', { class: `status status-${s.toLowerCase()}`, dataset: { testid } }, s);
  }

  function formatBytes(n) {
    n = Number(n) || 0;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  }

  const formatCount = (n) => (Number(n) || 0).toLocaleString('en');

  function formatUnix(seconds) {
    const s = Number(seconds) || 0;
    return s > 0 ? new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : '';
  }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...rows);
    if (rows.length === 0) tbody.append(h('tr', { class: 'empty' }, h('td', { colSpan: columns, class: 'muted' }, emptyText)));
  }

  function summary(dl, pairs) {
    dl.replaceChildren(...pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v === undefined || v === '' ? '—' : v)]));
  }

  function showError(e) {
    const err = e instanceof ApiError ? e : new ApiError(0, 'ConsoleError', String((e && e.message) || e), '');
    $('error-code').textContent = err.code;
    $('error-message').textContent = err.message;
    $('error-request-id').textContent = err.requestId || '—';
    $('error').hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
  }

  let noticeTimer = null;
  function notice(text) {
    const el = $('notice');
    el.textContent = text;
    el.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => {
      el.hidden = true;
    }, 6000);
  }

  // Runs a user's action: clears the last error, disables the button while it runs,
  // shows what failed.
  async function act(button, fn) {
    clearError();
    if (button) button.disabled = true;
    try {
      return await fn();
    } catch (e) {
      showError(e);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  function confirmDialog(text, yesLabel) {
    const dialog = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = yesLabel;
    return new Promise((resolve) => {
      const done = (answer) => {
        $('confirm-yes').removeEventListener('click', yes);
        $('confirm-no').removeEventListener('click', no);
        dialog.removeEventListener('cancel', no);
        dialog.close();
        resolve(answer);
      };
      const yes = () => done(true);
      const no = () => done(false);
      $('confirm-yes').addEventListener('click', yes);
      $('confirm-no').addEventListener('click', no);
      dialog.addEventListener('cancel', no);
      dialog.showModal();
    });
  }

  // ------------------------------------------------------------------------------------
  // Timers: each view polls with its own; leaving a view stops them
  // ------------------------------------------------------------------------------------

  const timers = {};
  function schedule(name, ms, fn) {
    clearTimeout(timers[name]);
    timers[name] = setTimeout(fn, ms);
  }
  function stop(name) {
    clearTimeout(timers[name]);
    delete timers[name];
  }
  function stopAll() {
    for (const name of Object.keys(timers)) stop(name);
    watching = null;
  }

  // ------------------------------------------------------------------------------------
  // Routing: #/instances, #/instance/<id>
  // ------------------------------------------------------------------------------------

  const VIEWS = ['view-signin', 'view-instances', 'view-instance'];
  let currentInstance = null;

  function show(view) {
    for (const v of VIEWS) $(v).hidden = v !== view;
  }

  function route() {
    stopAll();
    if (!session) {
      $('who').hidden = true;
      show('view-signin');
      $('signin-key-id').focus();
      return;
    }
    $('who').hidden = false;
    $('who-key').textContent = session.keyId;
    $('who-region').textContent = session.region;
    const match = location.hash.match(/^#\/instance\/([^/]+)$/);
    if (match) {
      currentInstance = decodeURIComponent(match[1]);
      show('view-instance');
      openInstance(currentInstance);
    } else {
      currentInstance = null;
      show('view-instances');
      loadInstances();
    }
  }

  // ------------------------------------------------------------------------------------
  // Sign in
  // ------------------------------------------------------------------------------------

  async function signIn(event) {
    event.preventDefault();
    const keyId = $('signin-key-id').value.trim();
    const secret = $('signin-key-secret').value;
    const region = $('signin-region').value.trim() || 'cn-hangzhou';
    await act($('signin-submit'), async () => {
      const candidate = { keyId, region, key: await hmacKey(secret) };
      // A signed call proves the key and the region before anything is kept.
      await call('DescribeDBInstances', { RegionId: region, PageSize: 1 }, candidate);
      sessionStorage.setItem(SESSION_KEY, JSON.stringify({ keyId, secret, region }));
      $('signin-key-secret').value = '';
      session = candidate;
      go('#/instances');
    });
  }

  // ------------------------------------------------------------------------------------
  // Instances
  // ------------------------------------------------------------------------------------

  let instances = [];

  // Every instance of the region, a page of 100 at a time.
  async function listInstances() {
    const all = [];
    for (let page = 1; ; page += 1) {
      const body = await call('DescribeDBInstances', { RegionId: session.region, PageSize: 100, PageNumber: page });
      const items = (body.Items && body.Items.DBInstance) || [];
      all.push(...items);
      if (items.length === 0 || all.length >= Number(body.TotalRecordCount)) return all;
    }
  }

  async function loadInstances() {
    try {
      instances = await listInstances();
    } catch (e) {
      showError(e);
      return;
    }
    if (currentInstance !== null || !session) return;
    renderInstances();
    const changing = instances.some((i) => !STABLE_STATES.has(i.DBInstanceStatus));
    $('instances-auto').hidden = !changing;
    if (changing) schedule('instances', POLL_MS.instances, loadInstances);
  }

  function renderInstances() {
    const rows = instances.map((i) =>
      h(
        'tr',
        { dataset: { testid: 'instance-row', instanceId: i.DBInstanceId, status: i.DBInstanceStatus } },
        h('td', {}, h('a', { href: `#/instance/${encodeURIComponent(i.DBInstanceId)}`, dataset: { testid: 'instance-link' } }, i.DBInstanceId)),
        h('td', {}, i.DBInstanceDescription || ''),
        h('td', {}, statusBadge(i.DBInstanceStatus, 'instance-status')),
        h('td', {}, `${i.Engine} ${i.EngineVersion}`),
        h('td', {}, i.DBInstanceClass),
        h('td', { class: 'mono', dataset: { testid: 'instance-address' } }, i.ConnectionString ? `${i.ConnectionString}:${i.Port}` : ''),
        h(
          'td',
          { class: 'row-actions' },
          h('button', {
            type: 'button',
            class: 'danger small',
            dataset: { testid: 'delete-instance' },
            disabled: i.DBInstanceStatus === 'Deleting',
            on: { click: (ev) => deleteInstance(ev.currentTarget, i.DBInstanceId) },
          }, 'Delete'),
        ),
      ),
    );
    fill($('instances-body'), rows, 'No instances in this region yet.', 7);
  }

  async function deleteInstance(button, id) {
    const ok = await confirmDialog(
      `Delete instance ${id}? Its engine and databases are removed; its backup sets stay until deleted.`,
      'Delete instance',
    );
    if (!ok) return;
    await act(button, async () => {
      await call('DeleteDBInstance', { DBInstanceId: id });
      notice(`Deleting ${id}.`);
      await loadInstances();
    });
  }

  // Versions and classes offered for an engine, asked of the server (fallbacks if it
  // cannot say).
  async function loadCreateChoices() {
    const engine = $('create-engine').value;
    let versions = DEFAULT_VERSIONS[engine];
    let classes = [];
    try {
      const zones = await call('DescribeAvailableZones', { RegionId: session.region, Engine: engine });
      const found = (zones.AvailableZones || []).flatMap((z) =>
        (z.SupportedEngines || []).flatMap((e) => (e.SupportedEngineVersions || []).map((v) => v.Version)),
      );
      if (found.length) versions = [...new Set(found)];
      const body = await call('DescribeAvailableClasses', { RegionId: session.region, Engine: engine });
      classes = (body.DBInstanceClasses || []).map((c) => ({
        code: c.DBInstanceClass,
        label: `${c.DBInstanceClass} (${c.Cpu} CPU, ${c.MemoryClass})`,
      }));
    } catch (e) {
      showError(e);
    }
    $('create-version').replaceChildren(...versions.map((v) => h('option', { value: v }, v)));
    // Dedicated classes first: only they can take part in imports.
    classes.sort((a, b) => Number(!a.code.includes('.x4.')) - Number(!b.code.includes('.x4.')));
    $('create-class').replaceChildren(...classes.map((c) => h('option', { value: c.code }, c.label)));
  }

  async function toggleCreate(open) {
    const form = $('create-form');
    form.hidden = !open;
    if (open) await loadCreateChoices();
  }

  async function createInstance(event) {
    event.preventDefault();
    await act($('create-submit'), async () => {
      const description = $('create-description').value.trim();
      const body = await call('CreateDBInstance', {
        RegionId: session.region,
        Engine: $('create-engine').value,
        EngineVersion: $('create-version').value,
        DBInstanceClass: $('create-class').value,
        DBInstanceStorage: $('create-storage').value,
        DBInstanceDescription: description || undefined,
        SecurityIPList: $('create-security-ips').value.trim(),
        DBInstanceNetType: 'Intranet',
        PayType: 'Postpaid',
      });
      notice(`Creating ${body.DBInstanceId}.`);
      $('create-form').hidden = true;
      $('create-description').value = '';
      await loadInstances();
    });
  }

  // ------------------------------------------------------------------------------------
  // One instance: summary, databases, accounts, imports, backups
  // ------------------------------------------------------------------------------------

  let detail = null; // DescribeDBInstanceAttribute of the open instance

  function stillOpen(id) {
    return session && currentInstance === id;
  }

  async function openInstance(id) {
    $('detail-id').textContent = id;
    for (const body of ['databases-body', 'accounts-body', 'imports-body', 'backups-body']) $(body).replaceChildren();
    $('import-progress').hidden = true;
    $('backup-job').hidden = true;
    $('detail-summary').replaceChildren();
    detail = null;
    await loadDetail(id);
    if (!detail) return;
    $('database-charset').value = DEFAULT_CHARSET[detail.Engine] || '';
    await Promise.all([loadDatabases(id), loadAccounts(id), loadImportSources(id), loadImports(id), loadBackups(id)]);
    // Follow the newest import still running, if any.
    const running = lastImports.find((t) => !IMPORT_ENDED.has(importStatus(t)));
    if (running && stillOpen(id)) watchImport(id, String(running.ImportId));
  }

  async function loadDetail(id) {
    let body;
    try {
      body = await call('DescribeDBInstanceAttribute', { DBInstanceId: id });
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id)) return;
    detail = body.Items.DBInstanceAttribute[0];
    const d = detail;
    $('detail-status').replaceChildren(statusBadge(d.DBInstanceStatus, 'detail-status-value'));
    summary($('detail-summary'), [
      ['Description', d.DBInstanceDescription],
      ['Engine', `${d.Engine} ${d.EngineVersion}`],
      ['Class', `${d.DBInstanceClass} (${d.DBInstanceCPU} CPU, ${d.DBInstanceMemory} MB)`],
      ['Storage', `${formatBytes(d.DBInstanceDiskUsed)} used of ${d.DBInstanceStorage} GB`],
      ['Address', d.ConnectionString ? `${d.ConnectionString}:${d.Port}` : ''],
      ['SecurityIPList', d.SecurityIPList],
      ['Zone', d.ZoneId],
      ['Created', d.CreationTime],
    ]);
    if (!STABLE_STATES.has(d.DBInstanceStatus)) schedule('detail', POLL_MS.detail, () => loadDetail(id));
  }

  async function loadDatabases(id) {
    let body;
    try {
      body = await call('DescribeDatabases', { DBInstanceId: id, PageSize: 100 });
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id)) return;
    const rows = (body.Databases.Database || []).map((db) =>
      h(
        'tr',
        { dataset: { testid: 'database-row', dbName: db.DBName } },
        h('td', {}, db.DBName),
        h('td', {}, db.DBStatus),
        h('td', {}, db.CharacterSetName),
        h('td', {}, ((db.Accounts && db.Accounts.AccountPrivilegeInfo) || []).map((a) => `${a.Account} (${a.AccountPrivilege})`).join(', ')),
      ),
    );
    fill($('databases-body'), rows, 'No databases yet.', 4);
  }

  async function loadAccounts(id) {
    let body;
    try {
      body = await call('DescribeAccounts', { DBInstanceId: id });
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id)) return;
    const rows = (body.Accounts.DBInstanceAccount || []).map((a) =>
      h(
        'tr',
        { dataset: { testid: 'account-row', accountName: a.AccountName } },
        h('td', {}, a.AccountName),
        h('td', {}, a.AccountType),
        h('td', {}, a.AccountStatus),
        h('td', {}, ((a.DatabasePrivileges && a.DatabasePrivileges.DatabasePrivilege) || []).map((p) => `${p.DBName} (${p.AccountPrivilege})`).join(', ')),
      ),
    );
    fill($('accounts-body'), rows, 'No accounts yet.', 4);
  }

  async function createDatabase(event) {
    event.preventDefault();
    const id = currentInstance;
    await act($('database-submit'), async () => {
      const account = $('database-account').value.trim();
      await call('CreateDatabase', {
        DBInstanceId: id,
        DBName: $('database-name').value.trim(),
        CharacterSetName: $('database-charset').value.trim(),
        AccountName: account || undefined,
        AccountPrivilege: account ? $('database-privilege').value : undefined,
      });
      notice(`Database ${$('database-name').value.trim()} created.`);
      $('database-name').value = '';
      await Promise.all([loadDatabases(id), loadAccounts(id)]);
    });
  }

  async function createAccount(event) {
    event.preventDefault();
    const id = currentInstance;
    await act($('account-submit'), async () => {
      await call('CreateAccount', {
        DBInstanceId: id,
        AccountName: $('account-name').value.trim(),
        AccountPassword: $('account-password').value,
        AccountType: $('account-type').value,
      });
      notice(`Account ${$('account-name').value.trim()} created.`);
      $('account-name').value = '';
      $('account-password').value = '';
      await loadAccounts(id);
    });
  }

  // --- imports ---------------------------------------------------------------------------

  let lastImports = [];
  let watching = null; // { instance, importId }

  const importStatus = (t) => t.ImportDataStatus === 'FullImporting' || t.ImportDataStatus === 'FullExporting' ? 'Running'
    : t.ImportDataStatus === 'NotStart' ? 'Pending' : t.ImportDataStatus;

  async function loadImportSources(id) {
    let all;
    try {
      all = await listInstances();
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id) || !detail) return;
    const select = $('import-source');
    const previous = select.value;
    const sources = all.filter((i) => i.DBInstanceId !== id && i.Engine === detail.Engine);
    select.replaceChildren(
      h('option', { value: '' }, sources.length ? 'source instance…' : `no other ${detail.Engine} instance`),
      ...sources.map((i) =>
        h('option', { value: i.DBInstanceId }, `${i.DBInstanceId}${i.DBInstanceDescription ? ' (' + i.DBInstanceDescription + ')' : ''} — ${i.DBInstanceStatus}`),
      ),
    );
    if (sources.some((i) => i.DBInstanceId === previous)) select.value = previous;
    await showSourceDatabases();
  }

  async function showSourceDatabases() {
    const source = $('import-source').value;
    const hint = $('import-source-dbs');
    hint.textContent = '';
    if (!source) return;
    try {
      const body = await call('DescribeDatabases', { DBInstanceId: source, PageSize: 100 });
      const names = (body.Databases.Database || []).map((d) => d.DBName);
      hint.textContent = names.length ? `${source} has: ${names.join(', ')}.` : `${source} has no databases.`;
    } catch (e) {
      hint.textContent = `${source}: ${e.message}`;
    }
  }

  // "shop:shop_copy crm" → {"DBNames":{"shop":"shop_copy","crm":"crm"}}
  function parseDbNames(text) {
    const names = {};
    for (const item of text.split(/[\s,]+/).filter(Boolean)) {
      const [source, dest] = item.split(':');
      names[source] = dest || source;
    }
    return { DBNames: names };
  }

  async function startImport(event) {
    event.preventDefault();
    const id = currentInstance;
    await act($('import-submit'), async () => {
      const source = $('import-source').value;
      if (!source) throw new ApiError(0, 'MissingSourceDBInstanceId', 'Choose the instance to import from.', '');
      const body = await call('ImportDatabaseBetweenInstances', {
        DBInstanceId: id,
        SourceDBInstanceId: source,
        DBInfo: JSON.stringify(parseDbNames($('import-dbnames').value)),
        RegionId: session.region,
      });
      notice(`Import ${body.ImportId} started.`);
      watchImport(id, body.ImportId);
      await loadImports(id);
    });
  }

  async function loadImports(id) {
    let body;
    try {
      body = await call('DescibeImportsFromDatabase', { DBInstanceId: id, PageSize: 100 });
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id)) return;
    lastImports = (body.Items.ImportResultFromDB || []).sort((a, b) => Number(b.ImportId) - Number(a.ImportId)).slice(0, 10);
    const rows = lastImports.map((t) =>
      h(
        'tr',
        { dataset: { testid: 'import-row', importId: String(t.ImportId) } },
        h('td', {}, String(t.ImportId)),
        h('td', {}, statusBadge(importStatus(t), 'import-row-status')),
        h('td', {}, t.SourceDBInstanceId),
        h('td', {}, t.DBInstanceId),
        h('td', {}, (t.DBNames || []).map((n) => (n.Source === n.Destination ? n.Source : `${n.Source} → ${n.Destination}`)).join(', ')),
        h('td', {}, h('button', { type: 'button', class: 'small', on: { click: () => watchImport(id, String(t.ImportId)) } }, 'Progress')),
      ),
    );
    fill($('imports-body'), rows, 'No imports from or into this instance yet.', 6);
  }

  function watchImport(id, importId) {
    watching = { instance: id, importId: String(importId) };
    $('import-id').textContent = importId;
    $('import-status').replaceChildren(statusBadge('Pending', 'import-status-value'));
    $('import-phase').textContent = '';
    $('import-tables-body').replaceChildren();
    $('import-error').hidden = true;
    $('import-progress').hidden = false;
    pollImport(id, String(importId));
  }

  async function pollImport(id, importId) {
    const current = () => watching && watching.instance === id && watching.importId === importId && stillOpen(id);
    if (!current()) return;
    let p;
    try {
      p = await call('DescribeImportProgress', { DBInstanceId: id, ImportId: importId });
    } catch (e) {
      if (current()) showError(e);
      return;
    }
    if (!current()) return;
    renderImport(p);
    if (IMPORT_ENDED.has(p.Status)) {
      // The copy is published (or undone): what the instances hold now changed.
      loadDetail(id);
      loadDatabases(id);
      loadAccounts(id);
      loadImports(id);
    } else {
      schedule('import', POLL_MS.import, () => pollImport(id, importId));
    }
  }

  function renderImport(p) {
    const progress = p.Progress || {};
    const result = p.Result || {};
    $('import-status').replaceChildren(statusBadge(p.Status, 'import-status-value'));
    $('import-phase').textContent = progress.Phase || p.Phase || '';
    $('import-cancel').hidden = IMPORT_ENDED.has(p.Status) || p.Status === 'Canceling';
    const bar = $('import-bar');
    const expected = Number(progress.BytesExpected) || 0;
    if (p.Status === 'Success') {
      bar.max = 1;
      bar.value = 1;
    } else if (expected > 0) {
      bar.max = expected;
      bar.value = Math.min(Number(progress.BytesDone) || 0, expected);
    } else {
      bar.removeAttribute('value'); // indeterminate until the plan is known
    }
    const parts = [
      `from ${p.SourceDBInstanceId} into ${p.DBInstanceId}`,
      `${formatCount(progress.RowsDone)} of ${formatCount(progress.RowsExpected)} rows`,
      `${formatBytes(progress.BytesDone)} of ${formatBytes(progress.BytesExpected)}`,
    ];
    if (progress.BytesPerSec) parts.push(`${formatBytes(progress.BytesPerSec)}/s`);
    if (progress.EtaSeconds !== undefined && progress.EtaSeconds !== null && !IMPORT_ENDED.has(p.Status)) {
      parts.push(`about ${Math.ceil(progress.EtaSeconds)} s left`);
    }
    if (p.StartTime) parts.push(`started ${p.StartTime}`);
    if (p.EndTime) parts.push(`ended ${p.EndTime}`);
    if (result.Verification) parts.push(`verification: ${result.Verification}`);
    $('import-totals').textContent = parts.join(' · ');
    $('import-error').textContent = p.Error || '';
    $('import-error').hidden = !p.Error;

    // Per table: live progress while copying; the verified report once done.
    const verified = new Map();
    for (const db of result.Databases || []) {
      for (const t of db.Tables || []) verified.set(`${db.Source}/${t.Schema}.${t.Name}`, t.Verified);
    }
    const rows = [];
    for (const db of progress.Databases || []) {
      const dbLabel = db.Source === db.Destination ? db.Source : `${db.Source} → ${db.Destination}`;
      for (const t of db.Tables || []) {
        const key = `${db.Source}/${t.Schema}.${t.Name}`;
        const state = verified.has(key) ? (verified.get(key) ? 'Verified' : 'Mismatch') : t.State;
        const bar = h('progress', { max: Math.max(Number(t.RowsExpected) || 0, 1) });
        bar.value = state === 'Verified' || state === 'Loaded' ? bar.max : Math.min(Number(t.RowsDone) || 0, bar.max);
        rows.push(
          h(
            'tr',
            { dataset: { testid: 'import-table-row', table: `${t.Schema}.${t.Name}`, state } },
            h('td', {}, dbLabel),
            h('td', {}, `${t.Schema}.${t.Name}`),
            h('td', {}, statusBadge(state, 'import-table-state')),
            h('td', { class: 'num' }, `${formatCount(t.RowsDone)} / ${formatCount(t.RowsExpected)}`),
            h('td', { class: 'num' }, `${formatBytes(t.BytesDone)} / ${formatBytes(t.BytesExpected)}`),
            h('td', {}, bar),
          ),
        );
      }
    }
    fill($('import-tables-body'), rows, IMPORT_ENDED.has(p.Status) ? 'No tables.' : 'Planning the copy…', 6);
  }

  async function cancelImport() {
    if (!watching) return;
    const { instance, importId } = watching;
    await act($('import-cancel'), async () => {
      await call('CancelImport', { DBInstanceId: instance, ImportId: importId });
      notice(`Canceling import ${importId}.`);
      pollImport(instance, importId);
    });
  }

  // --- backups ---------------------------------------------------------------------------

  async function loadBackups(id) {
    let backups;
    let policy;
    try {
      [backups, policy] = await Promise.all([
        call('DescribeBackups', { DBInstanceId: id, PageSize: 100 }),
        call('DescribeBackupPolicy', { DBInstanceId: id }),
      ]);
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id)) return;
    const sets = (backups.Items.Backup || []).sort((a, b) => Number(b.BackupId) - Number(a.BackupId));
    const rows = sets.map((b) =>
      h(
        'tr',
        { dataset: { testid: 'backup-row', backupId: b.BackupId } },
        h('td', {}, b.BackupId),
        h('td', {}, statusBadge(b.BackupStatus, 'backup-status')),
        h('td', {}, b.BackupMode),
        h('td', {}, b.BackupStartTime),
        h('td', {}, b.BackupEndTime),
        h('td', { class: 'num' }, formatBytes(b.BackupSize)),
        h('td', {}, formatUnix(b.ConsistentTime)),
      ),
    );
    fill($('backups-body'), rows, 'No backup sets yet.', 7);

    const logOn = policy.BackupLog === 'Enable';
    summary($('backup-policy'), [
      ['Backup window', policy.PreferredBackupTime],
      ['Days', policy.PreferredBackupPeriod],
      ['Next backup', policy.PreferredNextBackupTime],
      ['Sets kept', `${policy.BackupRetentionPeriod} days`],
      ['Log backup', logOn ? `on, kept ${policy.LogBackupRetentionPeriod} days` : 'off'],
    ]);
    // Where a clone or restore can start: any second from the first consistent set on
    // when the log is archived, else only the sets' own consistent times.
    const points = sets.filter((b) => b.BackupStatus === 'Success' && Number(b.ConsistentTime) > 0).map((b) => Number(b.ConsistentTime));
    let text;
    if (points.length === 0) text = 'No restore point yet: take a backup to start one.';
    else if (logOn) text = `Restore window: any second from ${formatUnix(Math.min(...points))} until now.`;
    else text = `Restore points: ${points.sort((a, b) => a - b).map(formatUnix).join(', ')} (log backup is off).`;
    $('restore-window').textContent = text;
  }

  async function createBackup() {
    const id = currentInstance;
    await act($('backup-create'), async () => {
      const body = await call('CreateBackup', { DBInstanceId: id });
      pollBackupJob(id, body.BackupJobId);
    });
  }

  async function pollBackupJob(id, jobId) {
    if (!stillOpen(id)) return;
    let job;
    try {
      const body = await call('DescribeBackupTasks', { DBInstanceId: id, BackupJobId: jobId });
      job = (body.Items.BackupJob || [])[0];
    } catch (e) {
      if (stillOpen(id)) showError(e);
      return;
    }
    if (!stillOpen(id) || !job) return;
    const el = $('backup-job');
    el.hidden = false;
    const left = job.EstimatedSecondsLeft ? `, about ${job.EstimatedSecondsLeft} s left` : '';
    el.textContent = `Backup job ${jobId}: ${job.BackupStatus} ${job.Process}%${left}${job.Error ? ' — ' + job.Error : ''}`;
    if (job.BackupStatus === 'Finished' || job.BackupStatus === 'Failed') loadBackups(id);
    else schedule('backup', POLL_MS.backup, () => pollBackupJob(id, jobId));
  }

  // ------------------------------------------------------------------------------------
  // Start
  // ------------------------------------------------------------------------------------

  async function start() {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('error-close').addEventListener('click', clearError);
    $('instances-refresh').addEventListener('click', (ev) => act(ev.currentTarget, loadInstances));
    $('create-toggle').addEventListener('click', () => toggleCreate($('create-form').hidden));
    $('create-cancel').addEventListener('click', () => toggleCreate(false));
    $('create-engine').addEventListener('change', loadCreateChoices);
    $('create-form').addEventListener('submit', createInstance);
    $('detail-refresh').addEventListener('click', () => currentInstance && openInstance(currentInstance));
    $('database-form').addEventListener('submit', createDatabase);
    $('account-form').addEventListener('submit', createAccount);
    $('import-source').addEventListener('change', showSourceDatabases);
    $('import-form').addEventListener('submit', startImport);
    $('import-cancel').addEventListener('click', cancelImport);
    $('backup-create').addEventListener('click', createBackup);
    window.addEventListener('hashchange', route);

    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      $('insecure').hidden = false;
      $('signin-submit').disabled = true;
    }
    try {
      session = await restoreSession();
    } catch (e) {
      session = null;
      showError(e);
    }
    route();
  }

  start();
})();

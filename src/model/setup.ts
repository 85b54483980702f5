// Loads an engine setup file: YAML with positions → schema (with defaults) →
// checks the schema cannot express → EngineSetup.
import { resolve as resolvePath } from 'node:path';
import { SUPPORTED } from '../engine/capabilities.js';
import { parseAddress, parseCidr, addToAddress, addressDistance, isValidIfName } from './address.js';
import { DURATION_EXPECTED, MAX_DURATION_EXPECTED, MAX_DURATION_MS, parseDuration } from './duration.js';
import { semanticPass, validateAgainstSchema } from './schema.js';
import { Diagnostics, readYaml, textSha256, type KeyPath, type SourceDoc } from './source.js';
import type { ChildConf, EngineSetup, TrafficSelectorConf } from './setup-types.js';

// Values users of the original tool may write that the engine does not do yet:
// these get "not supported yet" instead of "invalid".
const KNOWN_ENCR = ['aes-cbc:128', 'aes-cbc:192', 'aes-cbc:256', 'aes-gcm16:128', 'aes-gcm16:192', 'aes-gcm16:256', 'aes-gcm8:128', 'aes-gcm12:128', 'aes-ctr:128', 'aes-ctr:256', '3des', 'chacha20poly1305'];
const KNOWN_INTEG = ['sha1', 'sha256', 'sha384', 'sha512', 'md5', 'aes-xcbc'];
const KNOWN_AUTH = ['psk', 'rsa', 'ecdsa-256', 'ecdsa-384', 'ecdsa-521', 'digital-signature', 'eap'];
const KNOWN_DH = [1, 2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32];

type Raw = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Loads and validates one setup file; throws InputErrors with every problem. */
export async function loadSetupFile(file: string): Promise<EngineSetup> {
  const diag = new Diagnostics();
  const setup = readSetup(file, diag);
  diag.throwIfAny();
  return setup!;
}

/** Reads a setup file, recording problems in diag; null when it is unusable. */
export function readSetup(file: string, diag: Diagnostics): EngineSetup | null {
  const src = readYaml(file, diag);
  if (!src.ok) return null;
  const schema = validateAgainstSchema('setup', src, diag);
  if (!schema) return null;
  return semanticPass(schema, diag, (d) => toSetup(src, src.data as Raw, d));
}

function toSetup(src: SourceDoc, r: Raw, diag: Diagnostics): EngineSetup {
  const c = new Checker(src, diag);
  const ike = r.ikeconf as Raw;
  const ping = r.pingconf as Raw;

  c.ifName(['bindifname'], r.bindifname);
  if (r.role === 'client') {
    const start = c.cidr(['startclntaddr'], r.startclntaddr, { required: 'a client creates its tunnels from this address' });
    const peer = c.address(['peeraddr'], r.peeraddr, { required: 'a client needs the gateway address' });
    if (start && peer && start.family !== peer.family)
      diag.error(src, ['peeraddr'], { message: `is IPv${peer.family} but startclntaddr is IPv${start.family}`, expected: 'both in the same address family' });
    if (start && addToAddress(start.addr, r.numberoftunnels - 1) === null)
      diag.error(src, ['numberoftunnels'], { message: `${r.numberoftunnels} tunnels from ${start.addr} run past the end of the address space`, hint: 'lower numberoftunnels or start from a lower address' });
    else if (start && peer && start.family === peer.family) {
      const n = addressDistance(start.addr, peer.addr) + 1n;
      if (n >= 1n && n <= BigInt(r.numberoftunnels))
        diag.error(src, ['peeraddr'], {
          message: `${peer.addr} is also the client's own address of tunnel ${n} (startclntaddr + ${n - 1n})`,
          expected: "the gateway's address, outside startclntaddr … startclntaddr + numberoftunnels - 1",
        });
    }
  } else if (r.role === 'gateway') {
    c.cidr(['bindifaddr'], r.bindifaddr, { required: 'a gateway answers on this address' });
  }
  if (r.role === 'client') c.cidr(['bindifaddr'], r.bindifaddr, {});
  c.address(['apilistenaddr'], r.apilistenaddr, {});
  if (r.staticroute !== '' && !/^[A-Za-z0-9 ./:_-]+$/.test(r.staticroute))
    diag.error(src, ['staticroute'], { message: 'contains characters that are not allowed', expected: 'arguments of `ip route replace`, e.g. "10.2.0.0/16 via 10.1.0.254"' });

  const durations = {
    runningtime: c.duration(['runningtime'], r.runningtime),
    setupinterval: c.duration(['setupinterval'], r.setupinterval),
    tunnelretryinterval: c.duration(['tunnelretryinterval'], r.tunnelretryinterval),
    retraninterval: c.duration(['ikeconf', 'retraninterval'], ike.retraninterval),
    dpdinterval: c.duration(['ikeconf', 'dpdinterval'], ike.dpdinterval),
    natkeepalive: c.duration(['ikeconf', 'natkeepalive'], ike.natkeepalive),
    ikelifetime: c.duration(['ikeconf', 'ikelifetime'], ike.ikelifetime),
    margintime: c.duration(['ikeconf', 'margintime'], ike.margintime),
    interval: c.duration(['pingconf', 'interval'], ping.interval),
    holdtime: c.duration(['pingconf', 'holdtime'], ping.holdtime),
  };
  // Zero has no "off" meaning for these: every request would be resent at once, every tunnel pinged back to back.
  if (durations.retraninterval === 0)
    diag.error(src, ['ikeconf', 'retraninterval'], { message: 'is 0: every request would be resent at once', expected: 'a duration above 0, e.g. 10s (the default)' });
  if (durations.interval === 0)
    diag.error(src, ['pingconf', 'interval'], { message: 'is 0: every tunnel would be pinged back to back', expected: 'a duration above 0, e.g. 1s (the default)' });
  if (durations.ikelifetime !== null && durations.margintime !== null && durations.margintime >= durations.ikelifetime)
    diag.error(src, ['ikeconf', 'margintime'], { message: 'is not shorter than ikelifetime', expected: 'a rekey margin shorter than the lifetime' });

  c.algorithms(['ikeconf', 'ikeencyptalg'], ike.ikeencyptalg, SUPPORTED.ikeEncr, KNOWN_ENCR);
  c.algorithms(['ikeconf', 'ikeintegrityalg'], ike.ikeintegrityalg, SUPPORTED.ikeInteg, KNOWN_INTEG);
  c.algorithms(['ikeconf', 'ikeprfalg'], ike.ikeprfalg, SUPPORTED.ikePrf, KNOWN_INTEG);
  c.groups(['ikeconf', 'dhgrpid'], ike.dhgrpid);
  for (const k of ['authownmethod', 'authpeermethod'] as const) c.algorithms(['ikeconf', k], [ike[k]], SUPPORTED.authMethods, KNOWN_AUTH, true);
  if ((ike.authownmethod === 'psk' || ike.authpeermethod === 'psk') && ike.psk === '') c.missing(['ikeconf', 'psk'], 'set ikeconf.psk to the pre-shared key (it is never printed or logged)', 'the pre-shared key');
  if (ike.myid !== 'client-src-addr' && !isIdentity(ike.myid))
    diag.error(src, ['ikeconf', 'myid'], { message: `"${ike.myid}" is not a usable ID`, expected: '"client-src-addr", an IP address, an e-mail address or an FQDN' });

  const childlist: ChildConf[] = (ike.childlist as Raw[]).map((ch, i) => {
    const at: KeyPath = ['ikeconf', 'childlist', i];
    c.algorithms([...at, 'encalg'], ch.encalg, SUPPORTED.childEncr, KNOWN_ENCR);
    c.algorithms([...at, 'integrityalg'], ch.integrityalg, SUPPORTED.childInteg, KNOWN_INTEG);
    c.algorithms([...at, 'protocol'], [ch.protocol], SUPPORTED.childProtocols, ['esp', 'ah'], true);
    if (ch.pfsenabled) c.groups([...at, 'pfsgrpid'], ch.pfsgrpid);
    if (ch.esn !== SUPPORTED.notYet.esn)
      diag.error(src, [...at, 'esn'], { message: 'extended sequence numbers are not supported yet', expected: 'false', hint: 'remove esn or set it to false' });
    return {
      tunnelmode: ch.tunnelmode,
      encalg: ch.encalg,
      integrityalg: ch.integrityalg,
      protocol: 'esp',
      lifetimeMs: c.duration([...at, 'lifetime'], ch.lifetime) ?? 0,
      esn: ch.esn,
      pfsenabled: ch.pfsenabled,
      pfsgrpid: ch.pfsgrpid,
      replaywindowsize: ch.replaywindowsize,
      ownts: (ch.ownts as Raw[]).map((ts, j) => c.trafficSelector([...at, 'ownts', j], ts)),
      peerts: (ch.peerts as Raw[]).map((ts, j) => c.trafficSelector([...at, 'peerts', j], ts)),
    };
  });
  if (ping.destaddr !== '') c.address(['pingconf', 'destaddr'], ping.destaddr, {});
  if (ping.srcaddr !== '') c.address(['pingconf', 'srcaddr'], ping.srcaddr, {});

  return {
    file: resolvePath(src.file),
    sha256: textSha256(src.text),
    role: r.role,
    desc: r.desc,
    runningtimeMs: durations.runningtime ?? 0,
    numberoftunnels: r.numberoftunnels,
    loglevel: r.loglevel,
    startclntaddr: r.startclntaddr,
    peeraddr: r.peeraddr,
    bindifname: r.bindifname,
    bindifaddr: r.bindifaddr,
    staticroute: r.staticroute,
    setupintervalMs: durations.setupinterval ?? 0,
    tunnelretryintervalMs: durations.tunnelretryinterval ?? 0,
    tunnelmaxretry: r.tunnelmaxretry,
    owntsaddrincrease: r.owntsaddrincrease,
    peertsaddrincrease: r.peertsaddrincrease,
    apilistenaddr: r.apilistenaddr,
    apilistenport: r.apilistenport,
    abortonerr: r.abortonerr,
    ikeconf: {
      dhgrpid: ike.dhgrpid,
      ikeencyptalg: ike.ikeencyptalg,
      ikeintegrityalg: ike.ikeintegrityalg,
      ikeprfalg: ike.ikeprfalg,
      authownmethod: 'psk',
      authpeermethod: 'psk',
      psk: ike.psk,
      myid: ike.myid,
      retranintervalMs: durations.retraninterval ?? 0,
      maxretran: ike.maxretran,
      cookiethreshold: ike.cookiethreshold,
      initialcontact: ike.initialcontact,
      initiatedpd: ike.initiatedpd,
      dpdintervalMs: durations.dpdinterval ?? 0,
      ikelifetimeMs: durations.ikelifetime ?? 0,
      margintimeMs: durations.margintime ?? 0,
      jitter: ike.jitter,
      enablenatt: ike.enablenatt,
      natkeepaliveMs: durations.natkeepalive ?? 0,
      tradtionalencapforceudp: ike.tradtionalencapforceudp,
      installfastpath: ike.installfastpath,
      childlist,
    },
    pingconf: {
      destaddr: ping.destaddr,
      deststep: ping.deststep,
      srcaddr: ping.srcaddr,
      srcstep: ping.srcstep,
      autoaddr: ping.autoaddr,
      intervalMs: durations.interval ?? 0,
      pktlen: ping.pktlen,
      maxlossrate: ping.maxlossrate,
      holdtimeMs: durations.holdtime ?? 0,
    },
  };
}

function isIdentity(id: string): boolean {
  if (parseAddress(id)) return true;
  if (/^[^@\s]+@[A-Za-z0-9.-]+$/.test(id)) return true; // e-mail (ID_RFC822_ADDR)
  return /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(id); // FQDN
}

/** Field checks that record errors at the field's position and return the parsed value. */
export class Checker {
  constructor(
    private readonly src: SourceDoc,
    private readonly diag: Diagnostics,
  ) {}

  duration(path: KeyPath, text: string): number | null {
    const ms = parseDuration(text);
    if (ms === null) this.diag.error(this.src, path, { message: `"${text}" is not a duration`, expected: DURATION_EXPECTED });
    else if (ms > MAX_DURATION_MS) this.diag.error(this.src, path, { message: `"${text}" is too long`, expected: MAX_DURATION_EXPECTED });
    return ms;
  }

  address(path: KeyPath, text: string, opts: { required?: string }) {
    return this.parsed(path, text, opts, parseAddress, 'an IP address', 'an IPv4 or IPv6 address, e.g. 10.1.0.1 or 2001:db8::1');
  }

  cidr(path: KeyPath, text: string, opts: { required?: string }) {
    return this.parsed(path, text, opts, parseCidr, 'an address with a prefix length', 'ADDRESS/LENGTH, e.g. 10.1.0.1/16 or 2001:db8::1/64');
  }

  /** An optional (or, with opts.required, required) value that must parse. */
  private parsed<T>(path: KeyPath, text: string, opts: { required?: string }, parse: (t: string) => T | null, what: string, expected: string): T | null {
    if (text === '') {
      if (opts.required) this.missing(path, opts.required, expected);
      return null;
    }
    const v = parse(text);
    if (!v) this.diag.error(this.src, path, { message: `"${text}" is not ${what}`, expected });
    return v;
  }

  /** A required value that is absent (pointed at its mapping) or given as "" (pointed at). */
  missing(path: KeyPath, hint: string, expected: string): void {
    if (this.src.doc?.hasIn(path)) this.diag.error(this.src, path, { message: 'is empty', expected, hint });
    else this.diag.error(this.src, path, { at: 'parent', message: `missing required key "${path[path.length - 1]}"`, hint });
  }

  ifName(path: KeyPath, name: string): void {
    if (!isValidIfName(name))
      this.diag.error(this.src, path, { message: `"${name}" is not a valid interface name`, expected: 'a Linux interface name of 1–15 bytes from letters, digits, "_", "-", ".", "@"' });
  }

  algorithms(path: KeyPath, values: string[], supported: readonly string[], known: readonly string[], single = false): void {
    values.forEach((v, i) => {
      const at = single ? path : [...path, i];
      if (supported.includes(v)) return;
      if (known.includes(v))
        this.diag.error(this.src, at, { message: `"${v}" is not supported yet`, expected: `one of: ${supported.join(', ')}` });
      else this.diag.error(this.src, at, { message: `unknown value "${v}"`, expected: `one of: ${supported.join(', ')}` });
    });
  }

  groups(path: KeyPath, values: number[]): void {
    values.forEach((g, i) => {
      if ((SUPPORTED.dhGroups as readonly number[]).includes(g)) return;
      const known = KNOWN_DH.includes(g);
      this.diag.error(this.src, [...path, i], {
        message: known ? `DH group ${g} is not supported yet` : `unknown DH group ${g}`,
        expected: `one of: ${SUPPORTED.dhGroups.join(', ')}`,
      });
    });
  }

  trafficSelector(path: KeyPath, ts: Raw): TrafficSelectorConf {
    const family = ts.type === 'v6' ? 6 : 4;
    const first = family === 4 ? '0.0.0.0' : '::';
    const last = family === 4 ? '255.255.255.255' : 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const startaddr = ts.startaddr === '' ? first : ts.startaddr;
    const endaddr = ts.endaddr === '' ? last : ts.endaddr;
    let usable = true;
    for (const [k, v] of [['startaddr', startaddr], ['endaddr', endaddr]] as const) {
      const a = parseAddress(v);
      if (!a) this.diag.error(this.src, [...path, k], { message: `"${v}" is not an IP address`, expected: `an IPv${family} address` });
      else if (a.family !== family) this.diag.error(this.src, [...path, k], { message: `"${v}" is IPv${a.family} but type is ${ts.type}`, expected: `an IPv${family} address` });
      usable &&= a?.family === family;
    }
    if (usable && addressDistance(startaddr, endaddr) < 0n)
      this.diag.error(this.src, [...path, 'startaddr'], { message: `${startaddr} is above endaddr ${endaddr}`, expected: 'startaddr ≤ endaddr', hint: 'swap the two addresses' });
    if (ts.startport > ts.endport) this.diag.error(this.src, [...path, 'startport'], { message: 'is greater than endport', expected: 'startport ≤ endport' });
    return { type: ts.type, protocol: ts.protocol, startport: ts.startport, endport: ts.endport, startaddr, endaddr };
  }
}

// Templates of the `ip -batch` lines that install CHILD SAs into the kernel
// (the engine's fast path, `installfastpath: true`). One line each; `{{x}}`
// is replaced by src/engine/fastpath/xfrm-script.ts with validated values
// (addresses, numbers, hex keys, algorithm names from a fixed table), and a
// line whose value is empty loses the keyword with it. Kept as a module so
// the single-file server bundle carries them.

export const XFRM_TEMPLATES = {
  stateAdd:
    'xfrm state add src {{src}} dst {{dst}} proto esp spi {{spi}} reqid {{reqid}} mode {{mode}} replay-window {{replayWindow}}{{flagEsn}} {{algorithms}}{{encap}}{{ifId}}{{mark}}{{outputMark}}',
  stateDelete: 'xfrm state delete src {{src}} dst {{dst}} proto esp spi {{spi}}{{mark}}',
  // update = add, or replace the policy with the same selector, direction,
  // if_id and mark: an install never fails with "File exists" (a policy left
  // behind, or one of another tunnel with equal selectors that this one takes over)
  policyUpdate:
    'xfrm policy update src {{selSrc}} dst {{selDst}}{{selProto}} dir {{dir}}{{ifId}}{{mark}} tmpl src {{src}} dst {{dst}} proto esp reqid {{reqid}} mode {{mode}}',
  policyDelete: 'xfrm policy delete src {{selSrc}} dst {{selDst}}{{selProto}} dir {{dir}}{{ifId}}{{mark}}',
  interfaceAdd: 'link add {{ifname}} type xfrm dev {{dev}} if_id {{ifIdValue}}',
  interfaceUp: 'link set {{ifname}} up',
  interfaceRoute: 'route replace {{prefix}} dev {{ifname}}',
  interfaceDelete: 'link delete {{ifname}}',
} as const;

export type XfrmTemplate = keyof typeof XFRM_TEMPLATES;

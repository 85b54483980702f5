// What the engine implements. The setup-file validator checks against these
// lists, so a setup file asking for something not built yet is rejected with
// "not supported yet" instead of being silently ignored. The engine owns this
// file: extend a list when the feature lands.

export const SUPPORTED = {
  ikeEncr: ['aes-cbc:128', 'aes-cbc:256', 'aes-gcm16:128', 'aes-gcm16:256'],
  ikeInteg: ['sha1', 'sha256', 'sha384', 'sha512'],
  ikePrf: ['sha1', 'sha256', 'sha384', 'sha512'],
  dhGroups: [14, 15, 16, 19, 20, 21, 31],
  authMethods: ['psk'],
  childEncr: ['aes-cbc:128', 'aes-cbc:256', 'aes-gcm16:128', 'aes-gcm16:256'],
  childInteg: ['sha1', 'sha256', 'sha384', 'sha512'],
  childProtocols: ['esp'],
  /** Setup-file features that are accepted only with their default value for now. */
  notYet: {
    esn: false, // extended sequence numbers
  } as Record<string, unknown>,
} as const;

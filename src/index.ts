// The library behind the command line, for programs that drive terrarium without a shell (the
// benchmark is one): each command handler in cli/commands is a thin layer over these.

export { CODECS, type Codec } from './archive/codec-names.js';
export { compressor } from './archive/codecs.js';
export { packEnvironment } from './archive/create.js';
// And of a layered one (format 2): the layers of a scanned environment, packed into a folder.
export { planLayers, readClaims } from './archive/layers.js';
export { packLayers } from './archive/pack-layers.js';
export { saveArchive } from './archive/save.js';
// Building blocks of an archive: scan a built environment, pack it, write it to a file.
export { scanEnvironment } from './archive/scan.js';
export { EXIT, TerrariumError } from './errors.js';
export { configureStores, lookupOrder } from './install/configure-stores.js';
export { type InstallResult, install } from './install/install.js';
export type { InstallOptions } from './install/settings.js';
export { type KeyOptions, type ResolvedKey, resolveDigest, resolveKey } from './key/resolve.js';

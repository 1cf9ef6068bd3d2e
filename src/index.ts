// The library behind the command line, for programs that drive terrarium without a shell (the
// benchmark is one): each command handler in cli/commands is a thin layer over these.
export { install, type InstallResult } from './install/install.js';
export type { InstallOptions } from './install/settings.js';
export { resolveDigest, resolveKey, type KeyOptions, type ResolvedKey } from './key/resolve.js';
export { configureStores, lookupOrder } from './install/configure-stores.js';
export { TerrariumError, EXIT } from './errors.js';
// Building blocks of an archive: scan a built environment, pack it, write it to a file.
export { scanEnvironment } from './archive/scan.js';
export { packEnvironment } from './archive/create.js';
export { compressor } from './archive/codecs.js';
export { CODECS, type Codec } from './archive/codec-names.js';
export { saveArchive } from './archive/save.js';
// And of a layered one (format 2): the layers of a scanned environment, packed into a folder.
export { planLayers, readClaims } from './archive/layers.js';
export { packLayers } from './archive/pack-layers.js';

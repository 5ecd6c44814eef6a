// rbd_image_options_t for create, clone and copy. librbd rewrites the options handle it is given (it fills
// in FORMAT, FEATURES, ORDER and STRIPE_* and drops FLATTEN), so every call gets a new one, always destroyed.
import { RBD_IMAGE_OPTION_COPY, rbdImage } from '../native/rbd-image.js';
import { RBD_IMAGE_OPTION, type Pointer } from '../native/types.js';
import { check } from './errors.js';

export interface ImageOptionValues {
  /** image format; the API makes format 2 only */
  format?: 2 | undefined;
  /** clone format; 2 always for clones (no protection needed; this cluster's auto picks 1) */
  cloneFormat?: 2 | undefined;
  features?: bigint | undefined;
  order?: number | undefined;
  stripeUnit?: number | undefined;
  stripeCount?: number | undefined;
  dataPool?: string | undefined;
  /** deep copy: make the copy standalone instead of a clone of the source's parent */
  flatten?: boolean | undefined;
}

/** Run `fn` with a fresh options handle holding `v` (unset values are left to librbd's defaults). */
export async function withImageOptions<T>(v: ImageOptionValues, fn: (opts: Pointer) => Promise<T>): Promise<T> {
  const holder: [Pointer | null] = [null];
  rbdImage.imageOptionsCreate(holder); // local memory: inline
  const o = holder[0]!;
  try {
    const setU64 = (opt: number, value: number | bigint | undefined, label: string): void => {
      if (value !== undefined) check('image', 'rbd_image_options_set_uint64', rbdImage.imageOptionsSetUint64(o, opt, value) as number, label);
    };
    setU64(RBD_IMAGE_OPTION.FORMAT, v.format, 'format');
    setU64(RBD_IMAGE_OPTION_COPY.CLONE_FORMAT, v.cloneFormat, 'clone_format');
    setU64(RBD_IMAGE_OPTION.FEATURES, v.features, 'features');
    setU64(RBD_IMAGE_OPTION.ORDER, v.order, 'order');
    setU64(RBD_IMAGE_OPTION.STRIPE_UNIT, v.stripeUnit, 'stripe_unit');
    setU64(RBD_IMAGE_OPTION.STRIPE_COUNT, v.stripeCount, 'stripe_count');
    if (v.dataPool !== undefined) {
      check('image', 'rbd_image_options_set_string', rbdImage.imageOptionsSetString(o, RBD_IMAGE_OPTION.DATA_POOL, v.dataPool) as number, 'data_pool');
    }
    if (v.flatten) setU64(RBD_IMAGE_OPTION_COPY.FLATTEN, 1, 'flatten');
    return await fn(o);
  } finally {
    rbdImage.imageOptionsDestroy(o);
  }
}

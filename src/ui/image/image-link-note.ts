// The share bar's sentence about the picture: whether the receiver gets it, and how.
import type { ImageInLink } from '../../state/slices/image-slice';

export function imageLinkNote(inLink: ImageInLink): string {
  switch (inLink) {
    case 'exact':
      return ' The image is in the link.';
    case 'reduced':
      return ' The link holds a reduced copy of the image (the original is too large for a link); results recomputed from it may differ.';
    case 'url':
      return ' The link names the image by its address; the receiver loads it from there.';
    case 'not-in-link':
      return ' The image is not in the link (too large, and not from an address): the receiver has to add it.';
    case 'none':
      return '';
  }
}

import CLIP

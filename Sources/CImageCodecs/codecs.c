#include "image_codecs.h"
int adaneg_codecs_version(void) { return 0; }

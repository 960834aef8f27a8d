#ifndef ADANEG_IMAGE_CODECS_H
#define ADANEG_IMAGE_CODECS_H
/* Placeholder until the CLIP image pipeline lands. */
int adaneg_codecs_version(void);
#endif

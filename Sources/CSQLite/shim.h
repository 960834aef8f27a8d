#ifndef ADANEG_CSQLITE_SHIM_H
#define ADANEG_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif

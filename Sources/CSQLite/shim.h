#ifndef AFTERSALE_CSQLITE_SHIM_H
#define AFTERSALE_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a cast macro Swift cannot import: SQLite copies the bound value.
static inline sqlite3_destructor_type aftersale_sqlite_transient(void) { return SQLITE_TRANSIENT; }
/// SQLITE_STATIC: the caller keeps the bound value alive until the statement is reset.
static inline sqlite3_destructor_type aftersale_sqlite_static(void) { return SQLITE_STATIC; }
#endif

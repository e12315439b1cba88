// What retarget.cpp shares with check --retarget-preview (check.cpp), which
// shows what `retarget` would do to packages once installed: the default
// verifier, the summary's counts, and each file as `retarget --dry-run`
// prints it and as its JSON object (docs/json.md).
#pragma once

#include "libpatch/retarget/retarget.h"
#include "tools/xpatch/cli.h"
#include "tools/xpatch/json.h"

namespace xpatch::cli {

// rewrite::verify, and LIEF's read where its module is installed (or always,
// when `lief_required`: --verify given).
retarget::Verifier retarget_verifier(bool lief_required);

struct RetargetTally {
  unsigned done = 0, right = 0, skipped = 0, left = 0, errors = 0;
  void add(const retarget::BatchFile& b);
};

// One file as `retarget --dry-run` prints it (an error prints nothing: the
// caller says it), and as `retarget --dry-run --json` does.
void print_retarget_plan(const retarget::BatchFile& b, const Style& st, bool libc_missing);
Json retarget_file_json(const retarget::BatchFile& b);

}  // namespace xpatch::cli

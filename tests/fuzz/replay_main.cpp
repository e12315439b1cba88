// Replays inputs through the fuzz target without libFuzzer (plain GCC
// build): each file under the given directories is one input. Used by CTest
// on tests/fixtures/regressions/, the minimised crashes fuzzing found. A
// directory that does not exist, or no input at all, means the replay cannot
// run: exit 77, which CTest reports as skipped (never as passed).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  std::size_t n = 0;
  for (int a = 1; a < argc; ++a) {
    if (!std::filesystem::is_directory(argv[a])) {
      std::printf("skip - %s: no such directory of inputs\n", argv[a]);
      return 77;
    }
    for (const auto& e : std::filesystem::directory_iterator(argv[a])) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::printf("replay %s\n", e.path().filename().c_str());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(buf.data()), buf.size());  // aborts on a bug
      ++n;
    }
  }
  std::printf("%zu passed, 0 failed\n", n);
  if (n == 0) std::printf("skip - no inputs to replay\n");
  return n ? 0 : 77;
}

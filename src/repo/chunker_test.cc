#include "repo/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace mdb::repo {
namespace {

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<std::string> Cut(const Chunker& c, const std::string& data) {
  std::vector<std::string> chunks;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n =
        c.FindCut(reinterpret_cast<const uint8_t*>(data.data() + pos), data.size() - pos, true);
    chunks.push_back(data.substr(pos, n));
    pos += n;
  }
  return chunks;
}

TEST(Chunker, SizesStayWithinBoundsAndAverageNearTarget) {
  ChunkerParams p{.min_size = 16 << 10, .avg_size = 64 << 10, .max_size = 256 << 10};
  Chunker c(p);
  auto chunks = Cut(c, RandomBytes(16 << 20, 1));
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_GE(chunks[i].size(), p.min_size);
    EXPECT_LE(chunks[i].size(), p.max_size);
  }
  double avg = (16 << 20) / static_cast<double>(chunks.size());
  EXPECT_GT(avg, p.avg_size * 0.6);
  EXPECT_LT(avg, p.avg_size * 1.6);
}

TEST(Chunker, AnInsertionMovesOnlyNearbyCuts) {
  ChunkerParams p{.min_size = 16 << 10, .avg_size = 64 << 10, .max_size = 256 << 10};
  Chunker c(p);
  std::string data = RandomBytes(8 << 20, 2);
  auto before = Cut(c, data);
  std::string edited = data.substr(0, 3 << 20) + "inserted bytes" + data.substr(3 << 20);
  auto after = Cut(c, edited);
  std::set<std::string> old(before.begin(), before.end());
  size_t shared = 0;
  for (const auto& ch : after) shared += old.count(ch);
  EXPECT_GE(shared, after.size() - 3);  // only the chunk(s) around the edit differ
}

TEST(Chunker, NeedsMoreDataUntilMaxOrEnd) {
  Chunker c({.min_size = 4, .avg_size = 16, .max_size = 64});
  // Whatever the bytes, a prefix decides exactly as the whole would: before the cut point it
  // asks for more (or, at the end of the stream, takes everything), from the cut point on it
  // returns that same cut. A chunker that cut differently with less data would break dedup.
  for (uint32_t seed = 1; seed <= 50; ++seed) {
    std::string data = RandomBytes(200, seed);
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    size_t cut = c.FindCut(p, data.size(), false);
    ASSERT_GT(cut, 4u) << seed;  // never before min_size
    ASSERT_LE(cut, 64u) << seed;
    for (size_t n = 1; n < 100; ++n) {
      size_t want_more = n < cut ? 0 : cut;
      EXPECT_EQ(c.FindCut(p, n, false), want_more) << "seed " << seed << " n " << n;
      EXPECT_EQ(c.FindCut(p, n, true), n < cut ? n : cut) << "seed " << seed << " n " << n;
    }
  }
  std::string zeros(32, '\0');
  const auto* p = reinterpret_cast<const uint8_t*>(zeros.data());
  EXPECT_EQ(c.FindCut(p, 3, true), 3u);
  EXPECT_EQ(c.FindCut(p, 3, false), 0u);
  std::string big(100, '\0');
  EXPECT_LE(c.FindCut(reinterpret_cast<const uint8_t*>(big.data()), 100, false), 64u);
}

}  // namespace
}  // namespace mdb::repo

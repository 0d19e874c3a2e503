#include "repo/codec.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <thread>

namespace mdb::repo {
namespace {

Keys MakeKeys(bool encrypted) {
  Keys k;
  k.chunk_id_key = std::string(32, 'i');
  if (encrypted) k.data_key = std::string(32, 'd');
  return k;
}

TEST(Codec, RoundTripsWithAndWithoutEncryption) {
  ASSERT_GE(sodium_init(), 0);
  std::string text(100000, 'a');
  for (bool enc : {false, true}) {
    Codec codec(MakeKeys(enc), 3);
    std::string blob = *codec.Encode(text, "role");
    EXPECT_LT(blob.size(), text.size() / 10);
    auto back = codec.Decode(blob, "role");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, text);
    EXPECT_EQ(*codec.Decode(*codec.Encode("", "r"), "r"), "");
  }
}

TEST(Codec, TamperingWrongRoleAndWrongKeyAreDataLoss) {
  Codec codec(MakeKeys(true), 1);
  std::string blob = *codec.Encode("secret payload", "chunk-a");
  std::string bad = blob;
  bad[bad.size() / 2] ^= 1;
  EXPECT_EQ(codec.Decode(bad, "chunk-a").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(codec.Decode(blob, "chunk-b").status().code(), absl::StatusCode::kDataLoss);
  Keys other = MakeKeys(true);
  other.data_key = std::string(32, 'x');
  EXPECT_EQ(Codec(other, 1).Decode(blob, "chunk-a").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(blob.find("secret"), std::string::npos);
}

TEST(Codec, IdsAreKeyedAndDeterministic) {
  Codec a(MakeKeys(false), 1);
  Keys k = MakeKeys(false);
  k.chunk_id_key = std::string(32, 'z');
  Codec b(k, 1);
  EXPECT_EQ(a.Id("data"), a.Id("data"));
  EXPECT_NE(a.Id("data"), a.Id("date"));
  EXPECT_NE(a.Id("data"), b.Id("data"));
}

// A chunk named by its frame is checked against the frame before anything is decompressed; one
// named by its content, after. Frame ids use a key of their own: the same bytes get two different
// ids, so a plaintext that is some chunk's frame never dedups against that chunk. Encrypted or
// not alike: the role a blob is sealed to is its id, the same whichever kind the id is of, so
// only the id's check can tell a chunk read as the wrong kind.
TEST(Codec, ChunksAreCheckedAgainstTheKindOfIdTheirStreamNames) {
  const std::string text(200000, 'p');
  for (bool enc : {false, true}) {
    Codec codec(MakeKeys(enc), 1);
    const std::string frame = *codec.Compress(text);
    EXPECT_LT(frame.size(), text.size() / 10);
    const ChunkId by_frame = codec.FrameId(frame);
    const ChunkId by_content = codec.Id(text);
    EXPECT_NE(by_frame, codec.Id(frame));
    auto role = [](const ChunkId& id) {
      return std::string_view(reinterpret_cast<const char*>(id.data()), id.size());
    };
    const std::string framed = codec.SealFrame(frame, role(by_frame));
    EXPECT_EQ(codec.DecodeChunk(framed, by_frame, ChunkIds::kOfFrame, text.size()).value_or(""),
              text);
    const std::string contented = *codec.EncodeChunk(text, role(by_content));
    EXPECT_EQ(
        codec.DecodeChunk(contented, by_content, ChunkIds::kOfContent, text.size()).value_or(""),
        text);
    auto wrong = codec.DecodeChunk(framed, by_frame, ChunkIds::kOfContent, text.size());
    EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss) << wrong.status();
    EXPECT_EQ(wrong.status().message(), "content does not match its id");
    wrong = codec.DecodeChunk(contented, by_content, ChunkIds::kOfFrame, text.size());
    EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss) << wrong.status();
    EXPECT_EQ(wrong.status().message(), "content does not match its id");
    // A frame that is not the one named is refused before it is decompressed: even one that
    // claims more than the chunk's size gets the id's error, not the size's.
    const std::string bomb =
        codec.SealFrame(*codec.Compress(std::string(50 << 20, 'b')), role(by_frame));
    wrong = codec.DecodeChunk(bomb, by_frame, ChunkIds::kOfFrame, text.size());
    EXPECT_EQ(wrong.status().message(), "content does not match its id");
  }
}

// A chunk decoded into a spare (a buffer of an earlier chunk, io::ByteSink::Spare) is exactly
// the chunk, whatever the spare held or its size; one large enough is filled where it is.
TEST(Codec, AChunkDecodedIntoASpareIsExactlyTheChunk) {
  Codec codec(MakeKeys(false), 1);
  const std::string text(100000, 'p');
  const ChunkId id = codec.Id(text);
  const std::string blob = *codec.EncodeChunk(
      text, std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  for (size_t spare_size : {size_t{0}, size_t{10}, text.size(), text.size() + 5000}) {
    std::string spare(spare_size, 'x');
    const char* where = spare.data();
    auto plain = codec.DecodeChunk(blob, id, ChunkIds::kOfContent, text.size(), std::move(spare));
    ASSERT_TRUE(plain.ok()) << plain.status();
    EXPECT_EQ(*plain, text) << spare_size;
    if (spare_size >= text.size()) EXPECT_EQ(plain->data(), where) << spare_size;
  }
  // A frame that holds fewer bytes than the chunk's size is refused, never shown with the
  // spare's old bytes after it: for a chunk named by its frame nothing else would notice.
  for (bool enc : {false, true}) {
    Codec framed(MakeKeys(enc), 1);
    const std::string frame = *framed.Compress(text);
    const ChunkId fid = framed.FrameId(frame);
    const std::string sealed = framed.SealFrame(
        frame, std::string_view(reinterpret_cast<const char*>(fid.data()), fid.size()));
    for (size_t size : {text.size() + 1, text.size() - 1}) {
      auto wrong = framed.DecodeChunk(sealed, fid, ChunkIds::kOfFrame, size,
                                      std::string(text.size() + 10, 'x'));
      EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss) << enc << " " << size;
    }
  }
}

// A zstd frame header that claims a size (or an index entry's size for a chunk) its few stored
// bytes could never produce is refused before a buffer of that size is allocated: a planted
// 16-byte object in a plain repository must not make a reader allocate a terabyte (bad_alloc,
// or the OOM killer once pages are touched) at every start.
TEST(Codec, ASizeItsBytesCouldNotProduceIsRefusedBeforeAllocating) {
  constexpr uint64_t kClaim = uint64_t{1} << 40;
  // Magic, a descriptor (8-byte content size, single segment), the size, one empty raw block.
  std::string planted = {'\x28', '\xb5', '\x2f', '\xfd', '\xe0'};
  for (int i = 0; i < 8; ++i) planted.push_back(static_cast<char>(kClaim >> (8 * i)));
  planted += std::string("\x01\x00\x00", 3);
  Codec codec(MakeKeys(false), 1);
  auto decoded = codec.Decode(planted, "manifests/x", 0, size_t{1} << 41);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoded.status().message(),
            "'manifests/x': 1099511627776 bytes cannot come from a frame of 16");
  // Past what a frame may claim at all: damage, whatever this host's memory.
  decoded = codec.Decode(planted, "manifests/x");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoded.status().message(),
            "'manifests/x': its frame claims 1099511627776 bytes, more than the 17179869184 it "
            "may hold");
  // A real frame read as a chunk the index says is huge: the same, before any allocation.
  const std::string text(1000, 'c');
  const ChunkId id = codec.Id(text);
  const std::string_view role(reinterpret_cast<const char*>(id.data()), id.size());
  const std::string blob = *codec.EncodeChunk(text, role);
  auto chunk = codec.DecodeChunk(blob, id, ChunkIds::kOfContent, kClaim >> 10);
  EXPECT_EQ(chunk.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(chunk.status().message().find("cannot come from a frame of"), std::string::npos)
      << chunk.status();
  // What a frame can really produce still decodes: 64 MiB of one byte is a frame of ~2 KiB.
  const std::string ones(64 << 20, '1');
  auto back = codec.Decode(*codec.Encode(ones, "r"), "r");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, ones);
  // The host's cap: a quarter of this machine's memory, at most 16 GiB.
  EXPECT_GT(Codec::HostMaxSize(), size_t{64} << 20);
  EXPECT_LE(Codec::HostMaxSize(), Codec::kMaxFrameClaim);
  EXPECT_LE(Codec::HostMaxSize(),
            static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / 4);
}

// A frame this host cannot hold but a larger one could is no damage: ResourceExhausted, with
// what to do, refused before any allocation of its size. (Its header claims the host's cap + 1
// bytes, and it has the stored bytes that could produce them.)
TEST(Codec, AFrameTooLargeForThisHostIsNotDamage) {
  const size_t claim = Codec::HostMaxSize() + 1;
  if (claim > Codec::kMaxFrameClaim) GTEST_SKIP() << "a host with more than 64 GiB";
  std::string planted = {'\x28', '\xb5', '\x2f', '\xfd', '\xe0'};
  for (int i = 0; i < 8; ++i) planted.push_back(static_cast<char>(uint64_t{claim} >> (8 * i)));
  planted.resize(planted.size() + claim / Codec::kMaxExpansion + 1, '\0');
  Codec codec(MakeKeys(false), 1);
  auto decoded = codec.Decode(planted, "manifests/big");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kResourceExhausted) << decoded.status();
  EXPECT_NE(decoded.status().message().find("read it on a host with more memory"),
            std::string::npos)
      << decoded.status();
}

// Frame ids dedup only if the same plaintext always compresses to the same frame: whatever the
// thread's zstd context did before (another repository's level, an encrypted one's frames
// without a checksum), and on any thread.
TEST(Codec, AFrameIsTheSameWhateverTheContextDidBefore) {
  const std::string text = std::string(100000, 'q') + std::string(50000, 'r');
  for (bool enc : {false, true}) {
    Codec codec(MakeKeys(enc), 1);
    const std::string first = *codec.Compress(text);
    (void)Codec(MakeKeys(!enc), 1).Compress(text);
    (void)Codec(MakeKeys(enc), 19).Compress(std::string(300000, 's'));
    EXPECT_EQ(*codec.Compress(text), first);
    std::string elsewhere;
    std::thread([&] { elsewhere = *codec.Compress(text); }).join();
    EXPECT_EQ(elsewhere, first);
  }
}

TEST(Codec, SealOpen) {
  std::string key(32, 'k');
  std::string sealed = Seal("keys", key, "config/keys");
  EXPECT_EQ(*Open(sealed, key, "config/keys"), "keys");
  EXPECT_FALSE(Open(sealed, std::string(32, 'w'), "config/keys").ok());
  EXPECT_FALSE(Open("short", key, "config/keys").ok());
}

// The checksums are part of the format (docs/format.md): the published XXH3-128 of nothing and
// SHA-256 of "abc", and the same value whatever the pieces it is fed in.
TEST(StreamChecksum, MatchesThePublishedValuesWhateverThePieces) {
  auto hex = [](StreamChecksum::Kind kind, std::initializer_list<std::string_view> pieces) {
    StreamChecksum c(kind);
    for (auto p : pieces) c.Update(p);
    return ToHex(c.Finish());
  };
  using K = StreamChecksum::Kind;
  EXPECT_EQ(hex(K::kXxh3_128, {}), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(hex(K::kXxh3_128, {"abc"}), "06b05ab6733a618578af5f94892f3950");
  EXPECT_EQ(hex(K::kXxh3_128, {"a", "", "bc"}), "06b05ab6733a618578af5f94892f3950");
  EXPECT_EQ(hex(K::kSha256, {"ab", "c"}),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string big(3 << 20, 'x');
  EXPECT_EQ(hex(K::kXxh3_128, {big}), hex(K::kXxh3_128, {std::string_view(big).substr(0, 777),
                                                         std::string_view(big).substr(777)}));
}

}  // namespace
}  // namespace mdb::repo

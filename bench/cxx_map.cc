// cxx_map: a C++ workload of node containers and strings:
// std::map<std::string, std::vector<uint32_t>> built from random words
// (3-40 characters, so some fit std::string's inline buffer and some do
// not), std::string concatenation, erasing half the keys and refilling,
// and a std::unordered_map<std::string, std::string> rebuilt each round.
// The checksum walks the ordered map.  Usage: cxx_map [SCALE].
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Rng {
	uint64_t s;
	uint64_t next() {
		uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t mix(uint64_t h, uint64_t v) {
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

uint64_t hash_str(const std::string &s) {
	uint64_t h = 0xcbf29ce484222325ULL;
	for (unsigned char c : s)
		h = (h ^ c) * 0x100000001b3ULL;
	return h;
}

std::string word(Rng &r) {
	// A small vocabulary of stems, so keys repeat and the map's values grow.
	size_t len = 3 + r.below(38);
	uint64_t stem = r.below(4096);
	std::string w;
	for (size_t i = 0; i < len; i++)
		w += static_cast<char>('a' + (stem * 7 + i * 13 + (i > 8 ? r.below(3) : 0)) % 26);
	return w;
}

} // namespace

int main(int argc, char **argv) {
	double scale = argc > 1 ? std::strtod(argv[1], nullptr) : 1.0;
	if (scale <= 0)
		scale = 1.0;
	long rounds = static_cast<long>(scale * 12);
	Rng r{2718};
	uint64_t h = 0;
	std::map<std::string, std::vector<uint32_t>> index;
	for (long round = 0; round < rounds; round++) {
		for (int i = 0; i < 60000; i++) {
			std::string w = word(r);
			index[w].push_back(static_cast<uint32_t>(round * 100000 + i));
		}
		// Erase about half of the keys, by a property of the key.
		for (auto it = index.begin(); it != index.end();) {
			if ((hash_str(it->first) ^ static_cast<uint64_t>(round)) & 1)
				it = index.erase(it);
			else
				++it;
		}
		// A string-keyed hash table of joined strings, rebuilt each round.
		std::unordered_map<std::string, std::string> joined;
		for (const auto &kv : index) {
			std::string key = kv.first.substr(0, 6);
			std::string &v = joined[key];
			v += kv.first;
			v += ':';
			v += std::to_string(kv.second.size());
			v += ';';
		}
		uint64_t hj = 0;
		for (const auto &kv : joined)
			hj += mix(hash_str(kv.first), hash_str(kv.second)); // order-free
		h = mix(h, hj);
		h = mix(h, index.size());
	}
	for (const auto &kv : index) {
		h = mix(h, hash_str(kv.first));
		for (uint32_t v : kv.second)
			h = mix(h, v);
	}
	std::printf("keys=%zu\n", index.size());
	std::printf("checksum=%016llx\n", static_cast<unsigned long long>(h));
	return 0;
}

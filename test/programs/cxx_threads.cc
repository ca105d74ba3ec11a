// A C++17 program for the allocator: four threads doing new/delete,
// std::map<std::string, ...>, std::vector growth, std::string, exceptions,
// over-aligned types (alignas(64), alignas(4096)) through aligned new and
// delete, explicit sized and aligned+sized ::operator delete, and nothrow
// new.  It prints checksums that depend only on its fixed seeds, so the
// output on hmalloc must equal the output on glibc.  A misaligned pointer,
// a corrupted object or a failed expectation aborts with a message.
//
// Run by test/programs/cxx.sh, preloaded and linked.

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

[[noreturn]] void die(const char *what, const void *p, unsigned line)
{
	std::fprintf(stderr, "cxx_threads:%u: %s (pointer %p)\n", line, what, p);
	std::fflush(stderr);
	std::abort();
}

#define CHECK(cond, p) \
	do { \
		if (!(cond)) \
			die("check failed: " #cond, (const void *)(p), __LINE__); \
	} while (0)

#define CHECK_ALIGNED(p, a) \
	CHECK(reinterpret_cast<std::uintptr_t>(p) % (a) == 0, p)

// splitmix64: a seeded, portable generator.
struct Rng {
	std::uint64_t s;
	explicit Rng(std::uint64_t seed) : s(seed) {}
	std::uint64_t next()
	{
		std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		return z ^ (z >> 31);
	}
	std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

// FNV-1a over bytes, folded into a running checksum.
struct Sum {
	std::uint64_t h = 0xcbf29ce484222325ULL;
	void bytes(const void *p, std::size_t n)
	{
		const unsigned char *c = static_cast<const unsigned char *>(p);
		for (std::size_t i = 0; i < n; i++) {
			h ^= c[i];
			h *= 0x100000001b3ULL;
		}
	}
	void u64(std::uint64_t v) { bytes(&v, sizeof v); }
	void str(const std::string &s) { bytes(s.data(), s.size()); u64(s.size()); }
};

struct alignas(64) Line {
	std::uint64_t v[8];
};

struct alignas(4096) Page {
	std::uint64_t head;
	unsigned char body[4096 - 2 * sizeof(std::uint64_t)];
	std::uint64_t tail;
};

// g++ declares the sized operator delete in C++14 and later; clang before
// 19 only with -fsized-deallocation.  Without it the unsized forms stand in.
#ifdef __cpp_sized_deallocation
#define SIZED_DELETE(p, n) ::operator delete(p, n)
#define SIZED_ALIGNED_DELETE(p, n, al) ::operator delete(p, n, al)
#define SIZED_ALIGNED_DELETE_ARRAY(p, n, al) ::operator delete[](p, n, al)
#else
#define SIZED_DELETE(p, n) ((void)(n), ::operator delete(p))
#define SIZED_ALIGNED_DELETE(p, n, al) ((void)(n), ::operator delete(p, al))
#define SIZED_ALIGNED_DELETE_ARRAY(p, n, al) ((void)(n), ::operator delete[](p, al))
#endif

static_assert(alignof(Line) == 64, "alignas(64)");
static_assert(alignof(Page) == 4096 && sizeof(Page) == 4096, "alignas(4096)");

struct Node {
	std::uint64_t key;
	std::string name;
	std::unique_ptr<Node> next;
};

std::string make_word(Rng &r)
{
	std::size_t n = 1 + r.below(r.below(8) == 0 ? 200 : 24);
	std::string s;
	for (std::size_t i = 0; i < n; i++)
		s.push_back(static_cast<char>('a' + r.below(26)));
	return s;
}

// Plain new/delete of scalars, arrays and linked structures.
void part_new_delete(Rng &r, Sum &sum)
{
	std::vector<std::uint64_t *> live;
	for (int i = 0; i < 20000; i++) {
		if (!live.empty() && r.below(3) == 0) {
			std::size_t k = r.below(live.size());
			sum.u64(*live[k]);
			delete live[k];
			live[k] = live.back();
			live.pop_back();
		}
		live.push_back(new std::uint64_t(r.next()));
		if (i % 7 == 0) {
			std::size_t n = 1 + r.below(5000);
			char *a = new char[n];
			std::memset(a, static_cast<int>(n & 0xff), n);
			sum.u64(static_cast<unsigned char>(a[n - 1]));
			delete[] a;
		}
	}
	for (std::uint64_t *p : live) {
		sum.u64(*p);
		delete p;
	}
	std::unique_ptr<Node> head;
	for (int i = 0; i < 5000; i++) {
		std::unique_ptr<Node> n(new Node{r.next(), make_word(r), std::move(head)});
		head = std::move(n);
	}
	for (Node *n = head.get(); n; n = n->next.get()) {
		sum.u64(n->key);
		sum.str(n->name);
	}
	// Unlink iteratively: a 5000-deep recursive destructor is not the point.
	while (head)
		head = std::move(head->next);
}

// std::map<std::string, ...> and std::unordered_map with inserts and erases.
void part_maps(Rng &r, Sum &sum)
{
	std::map<std::string, std::vector<int>> m;
	std::unordered_map<std::string, std::string> u;
	for (int i = 0; i < 30000; i++) {
		std::string k = make_word(r);
		m[k].push_back(i);
		u[k + "#" + std::to_string(i % 100)] = k;
		if (i % 5 == 0 && !m.empty()) {
			auto it = m.lower_bound(make_word(r));
			if (it != m.end())
				m.erase(it);
		}
	}
	for (const auto &kv : m) {
		sum.str(kv.first);
		for (int v : kv.second)
			sum.u64(static_cast<std::uint64_t>(v));
	}
	sum.u64(m.size());
	sum.u64(u.size());
	std::uint64_t x = 0;
	for (const auto &kv : u)
		x += kv.first.size() * 31 + kv.second.size();
	sum.u64(x);
}

// Vectors grown one element at a time (reallocation), shrunk, swapped.
void part_vectors(Rng &r, Sum &sum)
{
	std::vector<std::vector<std::uint32_t>> vv;
	for (int round = 0; round < 40; round++) {
		std::vector<std::uint32_t> v;
		std::size_t n = 1 + r.below(round % 10 == 9 ? 400000 : 20000);
		for (std::size_t i = 0; i < n; i++)
			v.push_back(static_cast<std::uint32_t>(r.next()));
		if (round % 3 == 0) {
			v.resize(v.size() / 2);
			v.shrink_to_fit();
		}
		sum.u64(v.size());
		sum.u64(v.empty() ? 0 : v.back());
		vv.push_back(std::move(v));
		if (vv.size() > 8)
			vv.erase(vv.begin() + static_cast<std::ptrdiff_t>(r.below(vv.size())));
	}
	for (const auto &v : vv)
		sum.bytes(v.data(), v.size() * sizeof v[0]);
}

// std::string building: appends, inserts, substrings.
void part_strings(Rng &r, Sum &sum)
{
	std::string s;
	std::vector<std::string> parts;
	for (int i = 0; i < 20000; i++) {
		std::string w = make_word(r);
		s += w;
		if (i % 10 == 0)
			s.insert(r.below(s.size() + 1), w);
		if (s.size() > 100000)
			s = s.substr(s.size() / 3);
		parts.push_back(w + std::to_string(i));
		if (parts.size() > 2000)
			parts.erase(parts.begin(), parts.begin() + 1000);
	}
	sum.str(s);
	for (const auto &p : parts)
		sum.str(p);
}

// Over-aligned types through aligned new/delete, nothrow new, explicit sized
// and aligned+sized deletes.
void part_aligned(Rng &r, Sum &sum)
{
	for (int i = 0; i < 2000; i++) {
		Line *l = new Line;
		CHECK_ALIGNED(l, 64);
		for (int j = 0; j < 8; j++)
			l->v[j] = r.next();
		sum.u64(l->v[i % 8]);
		delete l;
	}
	std::vector<Page *> pages;
	for (int i = 0; i < 300; i++) {
		Page *p = new Page;
		CHECK_ALIGNED(p, 4096);
		p->head = p->tail = r.next();
		std::memset(p->body, i & 0xff, sizeof p->body);
		pages.push_back(p);
	}
	for (Page *p : pages) {
		CHECK(p->head == p->tail, p);
		sum.u64(p->head);
		delete p;
	}
	std::size_t n = 1 + r.below(64);
	Line *arr = new Line[n];
	CHECK_ALIGNED(arr, 64);
	for (std::size_t i = 0; i < n; i++)
		CHECK_ALIGNED(&arr[i], 64);
	delete[] arr;
	Page *parr = new Page[3];
	CHECK_ALIGNED(parr, 4096);
	delete[] parr;

	// A vector of over-aligned elements grows through aligned new.
	std::vector<Line> lines;
	for (int i = 0; i < 3000; i++) {
		lines.push_back(Line{{static_cast<std::uint64_t>(i), r.next(), 0, 0, 0, 0, 0, 0}});
		CHECK_ALIGNED(lines.data(), 64);
	}
	sum.u64(lines[lines.size() / 2].v[1]);

	// Nothrow new, plain and over-aligned.
	for (int i = 0; i < 1000; i++) {
		std::size_t sz = 1 + r.below(100000);
		char *c = new (std::nothrow) char[sz];
		CHECK(c != nullptr, c);
		c[0] = c[sz - 1] = 'x';
		delete[] c;
		Line *l = new (std::nothrow) Line;
		CHECK(l != nullptr, l);
		CHECK_ALIGNED(l, 64);
		delete l;
		Page *p = new (std::nothrow) Page;
		CHECK(p != nullptr, p);
		CHECK_ALIGNED(p, 4096);
		delete p;
	}

	// Explicit sized delete and aligned+sized delete, at many sizes and
	// alignments.
	for (int i = 0; i < 3000; i++) {
		std::size_t sz = 1 + r.below(i % 50 == 0 ? 3 << 20 : 2048);
		void *p = ::operator new(sz);
		std::memset(p, 0xa5, sz);
		sum.u64(static_cast<const unsigned char *>(p)[sz - 1]);
		SIZED_DELETE(p, sz);

		std::size_t al = std::size_t(1) << (4 + r.below(10)); // 16 .. 8192
		void *q = ::operator new(sz, std::align_val_t(al));
		CHECK_ALIGNED(q, al);
		std::memset(q, 0x5a, sz);
		SIZED_ALIGNED_DELETE(q, sz, std::align_val_t(al));

		void *t = ::operator new(sz, std::align_val_t(al), std::nothrow);
		CHECK(t != nullptr, t);
		CHECK_ALIGNED(t, al);
		::operator delete(t, std::align_val_t(al));

		void *a = ::operator new[](sz, std::align_val_t(64));
		CHECK_ALIGNED(a, 64);
		SIZED_ALIGNED_DELETE_ARRAY(a, sz, std::align_val_t(64));
	}
}

// Requests that cannot be met: nothrow new answers nullptr, new throws.
void part_exhaustion(Sum &sum)
{
	volatile std::size_t huge = PTRDIFF_MAX - 4096;
	char *c = new (std::nothrow) char[huge];
	CHECK(c == nullptr, c);
	void *p = ::operator new(huge, std::align_val_t(4096), std::nothrow);
	CHECK(p == nullptr, p);
	bool caught = false;
	try {
		char *d = new char[huge];
		die("new of PTRDIFF_MAX bytes succeeded", d, __LINE__);
	} catch (const std::bad_alloc &) {
		caught = true;
	}
	CHECK(caught, nullptr);
	sum.u64(caught);
}

// Exceptions carry allocated messages across frames.
void part_exceptions(Rng &r, Sum &sum)
{
	for (int i = 0; i < 2000; i++) {
		try {
			if (r.below(2))
				throw std::runtime_error("error " + make_word(r));
			throw std::vector<int>(1 + r.below(100), i);
		} catch (const std::runtime_error &e) {
			sum.bytes(e.what(), std::strlen(e.what()));
		} catch (const std::vector<int> &v) {
			sum.u64(v.size());
		}
	}
}

struct Result {
	std::uint64_t parts[7];
};

void worker(unsigned id, Result *res)
{
	Rng r(0x5eed0000ULL + id);
	void (*fns[])(Rng &, Sum &) = {part_new_delete, part_maps, part_vectors,
	    part_strings, part_aligned, part_exceptions};
	for (unsigned i = 0; i < 6; i++) {
		Sum s;
		fns[i](r, s);
		res->parts[i] = s.h;
	}
	Sum s;
	part_exhaustion(s);
	res->parts[6] = s.h;
}

} // namespace

int main()
{
	const unsigned nthreads = 4;
	std::vector<Result> results(nthreads);
	std::vector<std::thread> threads;
	for (unsigned i = 0; i < nthreads; i++)
		threads.emplace_back(worker, i, &results[i]);
	for (auto &t : threads)
		t.join();

	const char *names[] = {"new_delete", "maps", "vectors", "strings",
	    "aligned", "exceptions", "exhaustion"};
	Sum total;
	for (unsigned i = 0; i < nthreads; i++) {
		for (unsigned j = 0; j < 7; j++) {
			std::printf("thread %u %-10s %016" PRIx64 "\n", i, names[j],
			    results[i].parts[j]);
			total.u64(results[i].parts[j]);
		}
	}
	std::printf("total %016" PRIx64 "\n", total.h);
	return 0;
}

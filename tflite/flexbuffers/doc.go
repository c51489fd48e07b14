// Package flexbuffers encodes and decodes FlexBuffers, the schema-less binary format of the
// FlatBuffers project that TFLite uses for the custom_options of custom operators.
//
// The format, as this package implements it:
//
//   - Every value has a Type and a byte width (1, 2, 4 or 8). A "packed type" byte holds both:
//     type<<2 | log2(width).
//   - Null, Int, Uint, Float and Bool are stored inline, in the byte width of their parent.
//     Every other type is stored elsewhere and referenced by an unsigned offset counted
//     backwards from the place where the offset is stored: children always precede parents.
//   - A buffer ends with its root: the root value (or offset) in w bytes, the root's packed
//     type, then w itself as one byte.
//   - Strings, blobs and vectors are prefixed by their element count in the element width;
//     strings end with a 0 byte that the count excludes. Keys are 0-terminated bytes without
//     a count. Untyped vectors put one packed type byte per element after the elements;
//     typed vectors have none, and fixed typed vectors (2, 3 or 4 elements) have no count.
//   - A map is an untyped vector of values preceded by two more fields: the offset of a typed
//     vector of keys and that vector's byte width. Keys are sorted bytewise (strcmp order),
//     so readers find a key by binary search and index the values by the key's position.
//
// Decoding never panics and never trusts a size it has not checked against the buffer.
//
// Encoding picks the smallest byte width that holds every child, as the reference C++
// builder does, so output is compact and deterministic; for the same sequence of scalars,
// strings, untyped vectors and maps it matches the C++ builder byte for byte (the tests
// compare with flatc). Two deliberate differences: the C++ builder sizes an offset as if it sat further into its vector than it
// does, so near a width boundary it may choose a wider vector than needed where this package
// (like the Python port) takes the exact position; and C++'s Vector(const int32_t*, n) keeps
// the C type's width where Ints picks the smallest (IntsWidth keeps a minimum width, for
// kernels that read the elements as a plain array). Either way C++ readers
// (flexbuffers::GetRoot, TFLM's FlexbufferWrapper, which indexes a map's values by the
// key's position in sorted order) read the result.
package flexbuffers

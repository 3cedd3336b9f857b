// oneclass/data/image_codecs.hpp - PNG and JPEG decoding and encoding with libpng and libjpeg-turbo.
//
// Images come from users and datasets, so they are decoded by the libraries that are fuzzed
// upstream (OSS-Fuzz) and patched by Debian, not by a single-header decoder: Debian 12's stb_image
// 2.27 overruns a Huffman table on crafted JPEGs (nothings/stb #1289). Both libraries report errors
// by longjmp; each decode runs in one function whose C++ objects all live in the caller, so the
// jump skips no destructor. A header claiming more than `max_image_pixels` is refused before any
// pixel buffer is allocated, and a JPEG whose data ends early is an error, not a grey-filled image.
//
//   decode_image(bytes, source) -> image_u8    PNG or JPEG (by signature), 1 or 3 channels as stored
//   encode_png(img) / encode_jpeg(img, quality) -> bytes
#pragma once

#include <oneclass/core/error.hpp>

#include <csetjmp>
#include <cstdint>
#include <cstdio>  // before jpeglib.h, which uses FILE without including it
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

namespace oneclass {

/// An 8-bit image, interleaved (H x W x C, as files store it).
struct image_u8 {
    std::size_t height = 0, width = 0, channels = 0;
    std::vector<std::uint8_t> pixels;
};

/// The largest image a decoder accepts (width x height): 64 Mpixel, above any camera a defect
/// line uses, and far below what a crafted 100-byte header could otherwise make us allocate.
inline constexpr std::size_t max_image_pixels = std::size_t(1) << 26;

namespace detail {

struct png_io {
    std::string_view in;
    std::size_t pos = 0;
    std::string* out = nullptr;
    char msg[256] = {};
};

extern "C" inline void oneclass_png_error(png_structp p, png_const_charp msg) {
    auto* io = static_cast<png_io*>(png_get_error_ptr(p));
    if (io->msg[0] == 0) std::snprintf(io->msg, sizeof io->msg, "%s", msg);
    png_longjmp(p, 1);
}
extern "C" inline void oneclass_png_warning(png_structp, png_const_charp) {}
extern "C" inline void oneclass_png_read(png_structp p, png_bytep dst, png_size_t n) {
    auto* io = static_cast<png_io*>(png_get_io_ptr(p));
    if (n > io->in.size() - io->pos) png_error(p, "the file is truncated");
    std::memcpy(dst, io->in.data() + io->pos, n);
    io->pos += n;
}
extern "C" inline void oneclass_png_write(png_structp p, png_bytep src, png_size_t n) {
    static_cast<png_io*>(png_get_io_ptr(p))->out->append(reinterpret_cast<const char*>(src), n);
}
extern "C" inline void oneclass_png_flush(png_structp) {}

/// Decodes into `img` (whose pixels and `rows` the caller owns); returns "" or libpng's message.
inline std::string png_decode_into(std::string_view bytes, image_u8& img, std::vector<png_bytep>& rows) {
    png_io io{bytes, 0, nullptr, {}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, oneclass_png_error, oneclass_png_warning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_read_struct(&png, nullptr, nullptr);
        return "out of memory";
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        return io.msg;
    }
    png_set_read_fn(png, &io, oneclass_png_read);
    png_set_user_limits(png, 1u << 24, 1u << 24);
    png_read_info(png, info);
    const std::size_t w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w * h > max_image_pixels) {
        std::snprintf(io.msg, sizeof io.msg, "%zu x %zu pixels is more than the %zu this reader accepts", w, h,
                      max_image_pixels);
        png_error(png, io.msg);
    }
    const int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);  // as stored, not composited (stb's rule)
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const std::size_t c = png_get_channels(png, info);
    if ((c != 1 && c != 3) || png_get_rowbytes(png, info) != w * c) png_error(png, "unsupported pixel layout");
    try {
        img = {h, w, c, std::vector<std::uint8_t>(h * w * c)};
        rows.resize(h);
    } catch (const std::bad_alloc&) {
        png_destroy_read_struct(&png, &info, nullptr);
        return "not enough memory for its pixels";
    }
    for (std::size_t y = 0; y < h; ++y) rows[y] = img.pixels.data() + y * w * c;
    png_read_image(png, rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return {};
}

struct jpeg_error_state {
    jpeg_error_mgr mgr;
    std::jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
    bool truncated;
};

extern "C" inline void oneclass_jpeg_error_exit(j_common_ptr c) {
    auto* e = reinterpret_cast<jpeg_error_state*>(c->err);
    (*c->err->format_message)(c, e->msg);
    std::longjmp(e->jump, 1);
}
extern "C" inline void oneclass_jpeg_message(j_common_ptr c, int level) {
    // warnings are level -1; data that ends early is filled with grey by libjpeg: refuse it
    auto* e = reinterpret_cast<jpeg_error_state*>(c->err);
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
        e->truncated = true;
        (*c->err->format_message)(c, e->msg);
    }
}

inline std::string jpeg_decode_into(std::string_view bytes, image_u8& img) {
    jpeg_decompress_struct cinfo;
    jpeg_error_state err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = oneclass_jpeg_error_exit;
    err.mgr.emit_message = oneclass_jpeg_message;
    err.msg[0] = 0;
    err.truncated = false;
    jpeg_create_decompress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return err.msg;
    }
    jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
    jpeg_read_header(&cinfo, TRUE);
    const std::size_t w = cinfo.image_width, h = cinfo.image_height;
    if (w * h > max_image_pixels) {
        jpeg_destroy_decompress(&cinfo);
        char m[160];
        std::snprintf(m, sizeof m, "%zu x %zu pixels is more than the %zu this reader accepts", w, h, max_image_pixels);
        return m;
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const std::size_t c = std::size_t(cinfo.output_components), ow = cinfo.output_width, oh = cinfo.output_height;
    try {
        img = {oh, ow, c, std::vector<std::uint8_t>(oh * ow * c)};
    } catch (const std::bad_alloc&) {
        jpeg_destroy_decompress(&cinfo);
        return "not enough memory for its pixels";
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = img.pixels.data() + std::size_t(cinfo.output_scanline) * ow * c;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return err.truncated ? std::string(err.msg) : std::string();
}

inline bool has_png_signature(std::string_view b) { return b.size() >= 8 && png_sig_cmp(reinterpret_cast<png_const_bytep>(b.data()), 0, 8) == 0; }
inline bool has_jpeg_signature(std::string_view b) {
    return b.size() >= 3 && static_cast<unsigned char>(b[0]) == 0xFF && static_cast<unsigned char>(b[1]) == 0xD8 &&
           static_cast<unsigned char>(b[2]) == 0xFF;
}

}  // namespace detail

/// Decodes a PNG or JPEG held in memory (as stored: 1 or 3 channels; alpha dropped, 16-bit
/// samples reduced to 8); throws io_error naming `source` on anything else or any damage.
inline image_u8 decode_image(std::string_view bytes, const std::string& source) {
    image_u8 img;
    std::string err;
    if (detail::has_png_signature(bytes)) {
        std::vector<png_bytep> rows;
        err = detail::png_decode_into(bytes, img, rows);
    } else if (detail::has_jpeg_signature(bytes)) {
        err = detail::jpeg_decode_into(bytes, img);
    } else {
        fail<io_error>("load_image", "'", source, "' cannot be decoded (not a PNG or JPEG file)");
    }
    if (!err.empty()) fail<io_error>("load_image", "'", source, "' cannot be decoded (", err, ")");
    return img;
}

/// PNG bytes of an 8-bit image with 1 (grey), 3 (RGB) or 4 (RGBA) channels.
inline std::string encode_png(const image_u8& img) {
    require(img.height && img.width && (img.channels == 1 || img.channels == 3 || img.channels == 4) &&
                img.pixels.size() == img.height * img.width * img.channels,
            "encode_png", "image of ", img.height, " x ", img.width, " x ", img.channels, " holds ", img.pixels.size(),
            " values");
    std::string out;
    detail::png_io io{{}, 0, &out, {}};
    std::vector<png_bytep> rows(img.height);
    for (std::size_t y = 0; y < img.height; ++y)
        rows[y] = const_cast<png_bytep>(img.pixels.data() + y * img.width * img.channels);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, detail::oneclass_png_error, detail::oneclass_png_warning);
    png_infop info = png ? png_create_info_struct(png) : nullptr;
    if (!info) {
        png_destroy_write_struct(&png, nullptr);
        fail<io_error>("encode_png", "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fail<io_error>("encode_png", "libpng: ", io.msg);
    }
    png_set_write_fn(png, &io, detail::oneclass_png_write, detail::oneclass_png_flush);
    const int type = img.channels == 1 ? PNG_COLOR_TYPE_GRAY : img.channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_RGBA;
    png_set_IHDR(png, info, png_uint_32(img.width), png_uint_32(img.height), 8, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows.data());
    png_write_end(png, nullptr);
    png_destroy_write_struct(&png, &info);
    return out;
}

/// JPEG bytes of an 8-bit grey or RGB image (baseline, 4:2:0 for colour), quality 1..100.
inline std::string encode_jpeg(const image_u8& img, int quality = 95) {
    require(img.height && img.width && (img.channels == 1 || img.channels == 3) &&
                img.pixels.size() == img.height * img.width * img.channels && quality >= 1 && quality <= 100,
            "encode_jpeg", "image of ", img.height, " x ", img.width, " x ", img.channels, " (quality ", quality, ")");
    jpeg_compress_struct cinfo;
    detail::jpeg_error_state err;
    cinfo.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = detail::oneclass_jpeg_error_exit;
    err.msg[0] = 0;
    unsigned char* buf = nullptr;
    unsigned long size = 0;
    jpeg_create_compress(&cinfo);
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);  // (buf, set after the setjmp, is not read again: a leak, not UB)
        fail<io_error>("encode_jpeg", "libjpeg: ", err.msg);
    }
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = JDIMENSION(img.width);
    cinfo.image_height = JDIMENSION(img.height);
    cinfo.input_components = int(img.channels);
    cinfo.in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = const_cast<JSAMPROW>(img.pixels.data() + std::size_t(cinfo.next_scanline) * img.width * img.channels);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    std::string out(reinterpret_cast<const char*>(buf), size);
    jpeg_destroy_compress(&cinfo);
    std::free(buf);
    return out;
}

}  // namespace oneclass

/*
 * The training report (sinapsi/report.h, src/report/): the PNG writer
 * against libpng's reader, SVG structure, the confusion matrix of a model
 * whose predictions are worked out by hand, a whole report whose index.html
 * refers only to files that exist and decode, and the page rendered in
 * headless Chromium with every image loaded.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/raster.h"
#include "report/svg.h"
#include "sinapsi/report.h"

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    text[len] = '\0';
    fclose(f);
    return text;
}

/* Decodes a PNG as 8-bit grey with libpng; NULL when it does not decode. */
static uint8_t *decode_png(const char *path, int *width, int *height, png_uint_32 format) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&image, path)) return NULL;
    image.format = format;
    uint8_t *pixels = malloc(PNG_IMAGE_SIZE(image));
    if (!pixels || !png_image_finish_read(&image, NULL, pixels, 0, NULL)) {
        png_image_free(&image);
        free(pixels);
        return NULL;
    }
    *width = (int)image.width;
    *height = (int)image.height;
    return pixels;
}

/* Every tag of an SVG file opens and closes in order (a stack of names); the
 * root is <svg>. Returns the number of elements, -1 when malformed. */
static int svg_elements(const char *text) {
    char stack[64][32];
    int depth = 0, elements = 0, root_seen = 0;
    for (const char *p = strchr(text, '<'); p; p = strchr(p + 1, '<')) {
        if (p[1] == '?') continue; /* the XML declaration */
        const char *end = strchr(p, '>');
        if (!end) return -1;
        const int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        const size_t len = strcspn(name, " />");
        if (len == 0 || len >= 32) return -1;
        if (closing) {
            if (!depth || strncmp(stack[depth - 1], name, len) || stack[depth - 1][len]) return -1;
            depth--;
        } else {
            if (!depth && (root_seen || strncmp(name, "svg", 3))) return -1; /* one root */
            root_seen = 1;
            elements++;
            if (end[-1] != '/') {
                if (depth == 64) return -1;
                memcpy(stack[depth], name, len);
                stack[depth++][len] = '\0';
            }
        }
        p = end;
    }
    return depth == 0 && root_seen ? elements : -1;
}

/* ---- PNG ---- */

static void test_png_round_trip(void **state) {
    (void)state;
    /* Two 2x2 tiles: the first scaled min..max, the second constant (mid-grey). */
    const float tiles[8] = {0.0f, 1.0f, 2.0f, 3.0f, /* */ 5.0f, 5.0f, 5.0f, 5.0f};
    uint8_t *pixels;
    int w, h;
    SN_ASSERT_OK(sn_report__mosaic(tiles, 2, 2, 2, 2, 3, 1, SN_TILE_MIN_MAX, &pixels, &w, &h));
    /* cols * (tile_w * scale + gap) + gap */
    assert_int_equal(w, 2 * (2 * 3 + 1) + 1);
    assert_int_equal(h, 2 * 3 + 2);
    assert_int_equal(pixels[1 * w + 1], 0);      /* tile 0, value 0: black */
    assert_int_equal(pixels[1 * w + 1 + 3], 85); /* value 1 of 0..3 */
    assert_int_equal(pixels[4 * w + 4], 255);    /* value 3: white */
    assert_int_equal(pixels[1 * w + 8], 128);    /* constant tile */
    assert_int_equal(pixels[0], 224);            /* the border */
    const char *path = sn_temp_path("round.png");
    SN_ASSERT_OK(sn_report__png_write(path, w, h, 1, pixels));
    int rw, rh;
    uint8_t *back = decode_png(path, &rw, &rh, PNG_FORMAT_GRAY);
    assert_non_null(back);
    assert_int_equal(rw, w);
    assert_int_equal(rh, h);
    assert_memory_equal(back, pixels, (size_t)(w * h));
    free(back);
    /* RGB too: a 2x1 image, red then blue. */
    const uint8_t rgb[6] = {255, 0, 0, 0, 0, 255};
    SN_ASSERT_OK(sn_report__png_write(path, 2, 1, 3, rgb));
    back = decode_png(path, &rw, &rh, PNG_FORMAT_RGB);
    assert_non_null(back);
    assert_memory_equal(back, rgb, 6);
    free(back);
    free(pixels);
    /* Errors, not crashes. */
    assert_int_equal(sn_report__png_write(path, 0, 1, 1, rgb), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_report__png_write("/nonexistent/x.png", 2, 1, 3, rgb), SN_ERR_IO);
}

/* ---- SVG ---- */

static void test_svg_chart(void **state) {
    (void)state;
    const double x[4] = {1, 2, 3, 4}, y[4] = {1.0, 0.5, NAN, 0.25}, z[4] = {1e-3, 1e-4, 1e-5, 0};
    const sn_chart_series series[2] = {{"a<b&c", x, y, 4}, {"grad", x, z, 4}};
    sn_chart c = {"T\"itle", "step", "value", 1, series, 2};
    const char *path = sn_temp_path("chart.svg");
    SN_ASSERT_OK(sn_svg__line_chart(path, &c));
    char *text = read_text(path);
    assert_true(svg_elements(text) > 10);
    assert_non_null(strstr(text, "a&lt;b&amp;c")); /* escaped */
    assert_null(strstr(text, "a<b"));
    assert_non_null(strstr(text, "T&quot;itle"));
    assert_non_null(strstr(text, ">1e-5<")); /* log ticks at whole decades */
    /* NaN and 0 (on the log axis) break the lines: each path has a second M. */
    assert_non_null(strstr(text, "L"));
    free(text);
    /* The checker itself rejects broken nesting (a negative control). */
    assert_int_equal(svg_elements("<svg><g></svg></g>"), -1);
    assert_int_equal(svg_elements("<svg><g/></svg><svg></svg>"), -1);
    assert_int_equal(svg_elements("<svg><g/><text>a</text></svg>"), 3);
    /* No drawable point: still an SVG with axes. */
    const double none[2] = {NAN, NAN};
    const sn_chart_series empty = {"x", x, none, 2};
    c = (sn_chart){"empty", "x", "y", 0, &empty, 1};
    SN_ASSERT_OK(sn_svg__line_chart(path, &c));
    text = read_text(path);
    assert_true(svg_elements(text) > 0);
    assert_non_null(strstr(text, "no data"));
    free(text);
}

/* ---- the confusion matrix ---- */

/* Linear(2, 3) with W = [[1, 0], [0, 1], [-1, -1]], b = [0, 0, 0.5]: scores
 * (x0, x1, 0.5 - x0 - x1), so the predicted class is worked out by hand. */
static sn_model *hand_model(void) {
    const sn_module mod = sn_module_linear(2, 3, 1);
    sn_model *m;
    SN_ASSERT_OK(sn_model_create(&m, &mod, 1));
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = 4; /* smaller than the data: sn_model_forward goes in chunks */
    sn_shape_make(&o.sample_shape, 1, (int64_t[]){2});
    SN_ASSERT_OK(sn_model_compile(m, &o));
    sn_graph *g = sn_model_graph(m);
    const float w[6] = {1, 0, 0, 1, -1, -1}, b[3] = {0, 0, 0.5f};
    memcpy(sn_graph_value(g, sn_graph_param_node(g, 0)), w, sizeof w);
    memcpy(sn_graph_value(g, sn_graph_param_node(g, 1)), b, sizeof b);
    return m;
}

static void test_confusion_by_hand(void **state) {
    (void)state;
    sn_model *m = hand_model();
    /* x -> scores -> predicted: (2,0)->(2,0,-1.5)->0  (0,3)->1  (-1,-1)->(−1,−1,2.5)->2
     * (1,1)->(1,1,-1.5)->0 (first of equal maxima)  (0.1,0)->(0.1,0,0.4)->2  (0,-2)->2 */
    const float x[12] = {2, 0, 0, 3, -1, -1, 1, 1, 0.1f, 0, 0, -2};
    const float y[6] = {0, 1, 2, 1, 0, 2};
    const int32_t expected_pred[6] = {0, 1, 2, 0, 2, 2};
    sn_shape s;
    sn_shape_make(&s, 1, (int64_t[]){2});
    sn_dataset *ds;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, 6, &s, x, 1, y, 3));
    int32_t pred[6];
    float labels[6];
    SN_ASSERT_OK(sn_report_predict(m, ds, pred, labels));
    assert_memory_equal(pred, expected_pred, sizeof pred);
    assert_memory_equal(labels, y, sizeof labels);
    int64_t counts[9];
    SN_ASSERT_OK(sn_report_confusion(pred, labels, 6, 3, counts));
    /* rows true, columns predicted: true 0 -> {0, 2}; true 1 -> {1, 0}; true 2 -> {2, 2} */
    const int64_t expected[9] = {1, 0, 1, /* */ 1, 1, 0, /* */ 0, 0, 2};
    assert_memory_equal(counts, expected, sizeof counts);
    /* A label outside the classes is refused, not counted. */
    const float bad[1] = {3};
    assert_int_equal(sn_report_confusion(pred, bad, 1, 3, counts), SN_ERR_RANGE);
    sn_dataset_destroy(ds);
    sn_model_destroy(m);
}

/* ---- a whole report ---- */

/* A log as sn_train writes it: an earlier run (dropped), the settings of
 * this run, two epochs and health lines. */
static const char *write_log(void) {
    const char *path = sn_temp_path("run.jsonl");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"type\":\"settings\",\"spec\":\"old\",\"resume\":null}\n"
          "{\"type\":\"epoch\",\"epoch\":1,\"step\":9,\"train_loss\":9,\"train_accuracy\":0}\n"
          "{\"type\":\"settings\",\"spec\":\"Conv2d(1, 2, 3)\\n<b>\",\"lr\":0.1,\"resume\":null}\n"
          "{\"type\":\"step\",\"epoch\":1,\"step\":1,\"loss\":1.5,\"lr\":0.1}\n"
          "{\"type\":\"health\",\"epoch\":1,\"step\":1,\"first_nonfinite\":null,\"layers\":["
          "{\"module\":0,\"name\":\"Conv2d(1, 2, 3)\",\"kind\":\"Conv2d\",\"weight_norm\":1,"
          "\"grad_norm\":0.01,\"update_ratio\":0.001,\"input_grad_mean_abs\":null,"
          "\"saturated\":null,\"dead\":null},{\"module\":1,\"name\":\"Sigmoid()\","
          "\"weight_norm\":null,\"grad_norm\":null,\"update_ratio\":null,"
          "\"input_grad_mean_abs\":0.002,\"saturated\":0.5,\"dead\":null}]}\n"
          "{\"type\":\"epoch\",\"epoch\":1,\"step\":3,\"lr\":0.1,\"train_loss\":1.2,"
          "\"train_accuracy\":0.4,\"has_eval\":1,\"eval_split\":\"test\",\"eval\":{\"n\":6,"
          "\"loss\":1.1,\"accuracy\":0.5,\"correct\":3,\"seconds\":0.1}}\n"
          "{\"type\":\"epoch\",\"epoch\":2,\"step\":6,\"lr\":0.1,\"train_loss\":0.9,"
          "\"train_accuracy\":null,\"has_eval\":1,\"eval_split\":\"test\",\"eval\":{\"n\":6,"
          "\"loss\":0.8,\"accuracy\":0.6,\"correct\":4,\"seconds\":0.1}}\n",
          f);
    fclose(f);
    return path;
}

/* Conv2d(1, 2, 3) -> Sigmoid -> Flatten -> Linear(8, 3) on 1x4x4 images. */
static sn_model *conv_model(void) {
    const sn_module mods[4] = {sn_module_conv2d(1, 2, 3, 3, 1, 1, 0, 0, 1),
                               sn_module_plain(SN_MOD_SIGMOID), sn_module_plain(SN_MOD_FLATTEN),
                               sn_module_linear(8, 3, 1)};
    sn_model *m;
    SN_ASSERT_OK(sn_model_create(&m, mods, 4));
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = 8;
    sn_shape_make(&o.sample_shape, 3, (int64_t[]){1, 4, 4});
    SN_ASSERT_OK(sn_model_compile(m, &o));
    SN_ASSERT_OK(sn_model_init(m, 3, SN_INIT_TORCH_DEFAULT));
    return m;
}

static sn_dataset *image_data(int64_t n) {
    float *x = malloc(sizeof *x * (size_t)n * 16), *y = malloc(sizeof *y * (size_t)n);
    assert_true(x && y);
    for (int64_t i = 0; i < n * 16; i++) x[i] = (float)((i * 7919) % 13) / 13.0f;
    for (int64_t i = 0; i < n; i++) y[i] = (float)(i % 3);
    sn_shape s;
    sn_shape_make(&s, 3, (int64_t[]){1, 4, 4});
    sn_dataset *ds;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, n, &s, x, 1, y, 3));
    free(x);
    free(y);
    return ds;
}

/* Options for a report of m on test, from write_log's log. */
static sn_report_opts report_opts(sn_model *m, const sn_dataset *test) {
    sn_report_opts r = sn_report_defaults();
    r.log = write_log();
    r.model = m;
    r.test = test;
    return r;
}

/* The files index.html's <img src="..."> name, checked to exist and decode.
 * Returns how many there are. */
static int check_images(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *html = read_text(path);
    assert_null(strstr(html, "<script")); /* nothing needs JavaScript */
    assert_null(strstr(html, "http"));    /* nor the network */
    int images = 0;
    for (const char *p = strstr(html, "<img src=\""); p; p = strstr(p + 1, "<img src=\"")) {
        const char *src = p + 10, *end = strchr(src, '"');
        assert_non_null(end);
        snprintf(path, sizeof path, "%s/%.*s", dir, (int)(end - src), src);
        int w, h;
        if (strstr(path, ".png")) {
            uint8_t *pixels = decode_png(path, &w, &h, PNG_FORMAT_GRAY);
            if (!pixels) fail_msg("%s does not decode as PNG", path);
            assert_true(w > 8 && h > 8);
            free(pixels);
        } else {
            char *svg = read_text(path);
            if (svg_elements(svg) < 3) fail_msg("%s is not a well-formed SVG", path);
            free(svg);
        }
        images++;
    }
    free(html);
    return images;
}

static void test_report_files(void **state) {
    (void)state;
    sn_model *m = conv_model();
    sn_dataset *test = image_data(20);
    sn_report_opts r = report_opts(m, test);
    r.max_misclassified = 5;
    const char *dir = sn_temp_path("report");
    SN_ASSERT_OK(sn_report_write(dir, &r));
    /* loss, accuracy, 4 health charts (grad, input grad, update, saturated; no dead ReLU),
     * confusion, up to 5 misclassified, filters */
    int32_t pred[20];
    float labels[20];
    SN_ASSERT_OK(sn_report_predict(m, test, pred, labels));
    int wrong = 0;
    for (int i = 0; i < 20; i++) wrong += pred[i] != (int32_t)labels[i];
    assert_true(wrong > 0);
    const int images = check_images(dir);
    printf("report: %d images, %d of 20 misclassified\n", images, wrong);
    assert_int_equal(images, 2 + 4 + 1 + (wrong < 5 ? wrong : 5) + 1);
    char path[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    char *html = read_text(path);
    assert_non_null(strstr(html, "&lt;b&gt;"));       /* the spec, escaped */
    assert_null(strstr(html, ">old<"));               /* the earlier run is dropped */
    assert_non_null(strstr(html, "2 epochs logged")); /* this run's two */
    free(html);
    /* Without a model: only the curves, and notes. */
    r.model = NULL;
    r.test = NULL;
    const char *bare = sn_temp_path("bare");
    SN_ASSERT_OK(sn_report_write(bare, &r));
    assert_int_equal(check_images(bare), 6);
    /* A damaged log names its line. */
    FILE *f = fopen(r.log, "a");
    fputs("{\"type\":\"epoch\",\"epoch\":-1}\n", f);
    fclose(f);
    assert_int_equal(sn_report_write(bare, &r), SN_ERR_FORMAT);
    assert_non_null(strstr(sn_last_error(), "line 8"));
    sn_dataset_destroy(test);
    sn_model_destroy(m);
}

/* ---- the page in a browser ---- */

static const char *find_chromium(void) {
    static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0) return paths[i];
    return NULL;
}

/* Headless Chromium on index.html: a copy of the page with a test-only script
 * that, once everything has loaded, writes a marker saying whether every
 * <img> decoded (naturalWidth > 0); --dump-dom prints the DOM with the marker.
 * Then a screenshot, kept in the build directory (report_render.png). */
static void test_chromium_render(void **state) {
    (void)state;
    const char *chromium = find_chromium();
    if (!chromium) {
        print_message("chromium is not installed (scripts/install-deps.sh installs it): skipped\n");
        skip();
    }
    sn_model *m = conv_model();
    sn_dataset *test = image_data(20);
    sn_report_opts r = report_opts(m, test);
    char dir[2200], cwd[2048];
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(dir, sizeof dir, "%s/report_render", cwd); /* the build directory, not the repo */
    SN_ASSERT_OK(sn_report_write(dir, &r));
    const int images = check_images(dir);

    char path[4096], probe[4096];
    snprintf(path, sizeof path, "%s/index.html", dir);
    snprintf(probe, sizeof probe, "%s/probe.html", dir);
    char *html = read_text(path);
    char *body_end = strstr(html, "</body>");
    assert_non_null(body_end);
    FILE *f = fopen(probe, "w");
    assert_non_null(f);
    fprintf(f, "%.*s", (int)(body_end - html), html);
    fputs("<script>window.addEventListener('load', function () {"
          " var bad = [], imgs = document.images;"
          " for (var i = 0; i < imgs.length; i++)"
          "  if (!imgs[i].complete || !(imgs[i].naturalWidth > 0)) bad.push(imgs[i].src);"
          " var d = document.createElement('div'); d.id = 'probe';"
          " d.textContent = bad.length ? 'BROKEN ' + bad.join(' ') : 'LOADED ' + imgs.length;"
          " document.body.appendChild(d); });</script>\n</body></html>\n",
          f);
    fclose(f);
    free(html);

    char profile[] = "/tmp/sinapsi-chromium-XXXXXX";
    assert_non_null(mkdtemp(profile));
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update "
                        "--disable-sync --window-size=1280,2000";
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "%s %s --user-data-dir=%s --virtual-time-budget=5000 --dump-dom 'file://%s' "
             "2>/dev/null",
             chromium, flags, profile, probe);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *dom = calloc(1, 1 << 20);
    assert_non_null(dom);
    size_t len = fread(dom, 1, (1 << 20) - 1, p);
    dom[len] = '\0';
    assert_int_equal(pclose(p), 0);
    char expected[64];
    snprintf(expected, sizeof expected, "<div id=\"probe\">LOADED %d</div>", images);
    if (!strstr(dom, expected)) {
        const char *marker = strstr(dom, "id=\"probe\"");
        fail_msg("expected '%s' in the rendered DOM, got: %.300s", expected,
                 marker ? marker : "no marker (the page did not finish loading)");
    }
    free(dom);

    char shot[4096];
    snprintf(shot, sizeof shot, "%s/report_render.png", cwd);
    snprintf(cmd, sizeof cmd,
             "%s %s --user-data-dir=%s --screenshot='%s' 'file://%s' >/dev/null 2>&1", chromium,
             flags, profile, shot, path);
    assert_int_equal(system(cmd), 0);
    int w, h;
    uint8_t *pixels = decode_png(shot, &w, &h, PNG_FORMAT_GRAY);
    assert_non_null(pixels);
    assert_int_equal(w, 1280);
    assert_int_equal(h, 2000);
    /* Something is drawn: many pixels far from the white background. */
    int64_t dark = 0;
    for (int64_t i = 0; i < (int64_t)w * h; i++) dark += pixels[i] < 128;
    printf("chromium: %d images loaded; screenshot %s, %lld dark pixels\n", images, shot,
           (long long)dark);
    assert_true(dark > 10000);
    free(pixels);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", profile);
    assert_int_equal(system(cmd), 0);
    sn_dataset_destroy(test);
    sn_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_round_trip),    cmocka_unit_test(test_svg_chart),
        cmocka_unit_test(test_confusion_by_hand), cmocka_unit_test(test_report_files),
        cmocka_unit_test(test_chromium_render),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

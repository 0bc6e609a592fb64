using System.Net.Http.Headers;
using System.Text;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Conversations.AttachmentTests;

namespace StoreLink.Tests.Conversations;

/// <summary>Uploads cannot fill the disk: limits per uploader and store in a window, a quota per organization, bad bodies refused.</summary>
public sealed class UploadLimitTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static byte[] PngWith(byte extra) => [.. Png, extra];

    [Theory, MemberData(nameof(Databases))]
    public async Task An_uploader_past_the_count_or_bytes_of_the_window_is_told_when_it_frees(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?>
        {
            ["Messages:MaxAttachmentBytes"] = "200", ["Uploads:PerUploaderBytes"] = "200", ["Uploads:PerUploaderCount"] = "3",
        });
        var customer = await app.VisitorAsync("demo-digital");

        Assert.Equal(201, (await UploadAsync(customer, PngWith(1), "1.png", "image/png")).Status);
        app.Clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(201, (await UploadAsync(customer, PngWith(2), "2.png", "image/png")).Status);
        // 3 × 68 bytes is over 200: the bytes fit again when the first upload leaves the hour, 50 minutes from now.
        var bytes = await UploadAsync(customer, PngWith(3), "3.png", "image/png");
        Assert.Equal((429, "rate_limited"), (bytes.Status, bytes.Code));
        Assert.InRange(RetryAfter(bytes), 50 * 60 - 30, 50 * 60);

        var small = await UploadAsync(customer, [.. "OggS"u8, 0, 2, 0, 0], "a.ogg", "audio/ogg");
        Assert.Equal(201, small.Status);
        // Three uploads in the window: the count is full until the first one leaves it.
        var count = await UploadAsync(customer, [.. "OggS"u8, 0, 2, 0, 1], "b.ogg", "audio/ogg");
        Assert.Equal((429, "rate_limited"), (count.Status, count.Code));
        Assert.InRange(RetryAfter(count), 50 * 60 - 30, 50 * 60);

        // Another uploader of the same store is not held back.
        Assert.Equal(201, (await UploadAsync(await app.VisitorAsync("demo-digital"), PngWith(4), "4.png", "image/png")).Status);
        app.Clock.Advance(TimeSpan.FromMinutes(51));
        Assert.Equal(201, (await UploadAsync(customer, PngWith(3), "3.png", "image/png")).Status);
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_store_past_its_count_refuses_new_visitors_too_but_not_other_stores(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Uploads:PerStoreCount"] = "2" });
        Assert.Equal(201, (await UploadAsync(await app.VisitorAsync("demo-digital"), PngWith(1), "1.png", "image/png")).Status);
        Assert.Equal(201, (await UploadAsync(await app.VisitorAsync("demo-digital"), PngWith(2), "2.png", "image/png")).Status);
        var third = await UploadAsync(await app.VisitorAsync("demo-digital"), PngWith(3), "3.png", "image/png");
        Assert.Equal((429, "rate_limited"), (third.Status, third.Code));
        Assert.InRange(RetryAfter(third), 3600 - 30, 3600);
        Assert.Equal(201, (await UploadAsync(await app.VisitorAsync("demo-bags"), PngWith(4), "4.png", "image/png")).Status);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task Parallel_uploads_never_pass_the_last_slot(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Uploads:PerUploaderCount"] = "3" });
        var customer = await app.VisitorAsync("demo-digital");
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => UploadAsync(customer, PngWith((byte)i), $"{i}.png", "image/png")));
        Assert.Equal(3, answers.Count(a => a.Status == 201));
        Assert.All(answers.Where(a => a.Status != 201), a => Assert.Equal((429, "rate_limited"), (a.Status, a.Code)));
        Assert.Empty(app.Log.Errors);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_full_organization_quota_refuses_uploads_of_that_organization_only_with_a_readable_message(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Uploads:OrgQuotaBytes"] = "150" });
        var customer = await app.VisitorAsync("demo-digital");
        Assert.Equal(201, (await UploadAsync(customer, PngWith(1), "1.png", "image/png")).Status);
        Assert.Equal(201, (await UploadAsync(customer, PngWith(2), "2.png", "image/png")).Status);

        var full = await UploadAsync(customer, PngWith(3), "3.png", "image/png");
        Assert.Equal((413, "quota_exceeded"), (full.Status, full.Code));
        Assert.Contains("存储", full.Str("title"), StringComparison.Ordinal);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        agent.DefaultRequestHeaders.AcceptLanguage.ParseAdd("en-GB,en;q=0.8");
        var english = await UploadAsync(agent, PngWith(4), "4.png", "image/png");
        Assert.Equal((413, "quota_exceeded"), (english.Status, english.Code));
        Assert.Contains("storage is full", english.Str("title"), StringComparison.Ordinal);

        Assert.Equal(201, (await UploadAsync(await app.VisitorAsync("demo-franchise"), PngWith(5), "5.png", "image/png")).Status);
    }

    [Fact]
    public async Task Malformed_multipart_bodies_are_invalid_request_and_log_no_error()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var customer = await app.VisitorAsync("demo-digital");
        const string part = "--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n";
        var cases = new (string ContentType, string Body)[]
        {
            ("multipart/form-data; boundary=" + new string('b', 80), "--" + new string('b', 80) + "\r\n"),
            ("multipart/form-data", part + "x\r\n--abc--\r\n"),
            ("text/plain; boundary=abc", part + "x\r\n--abc--\r\n"),
            ("application/json", "{}"),
            ("multipart/form-data; boundary=abc", part + "\u0089PNG\r\n\u001a\n"), // cut off: no closing boundary
            ("multipart/form-data; boundary=abc", part),
            ("multipart/form-data; boundary=abc", "no boundary in here at all"),
            ("multipart/form-data; boundary=abc", "--abc\r\nthis header has no colon\r\n\r\nx\r\n--abc--\r\n"),
            ("multipart/form-data; boundary=abc", "--abc\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"a.png\"\r\n\r\nx\r\n--abc--\r\n"),
            ("multipart/form-data; boundary=abc", "--abc--\r\n"),
        };
        foreach (var (contentType, body) in cases)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/attachments") { Content = new ByteArrayContent(Encoding.Latin1.GetBytes(body)) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            var answer = await customer.SendJsonAsync(request);
            Assert.True(answer is { Status: 400, Code: "invalid_request", ContentType: "application/problem+json" }, $"{contentType} {body}: {answer}");
        }
        Assert.Empty(app.Log.Errors);
        Assert.Empty(Directory.GetFiles(Path.Combine(app.Database.DataDirectory, "attachments"), "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Invisible_and_direction_characters_leave_file_names_and_chinese_and_emoji_stay()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var customer = await app.VisitorAsync("demo-digital");
        var names = new Dictionary<string, string>
        {
            ["\u202Egnp.exe"] = "gnp.exe",
            ["in\u200Bvoice\u2066.pdf\u2069\uFEFF.exe"] = "invoice.pdf.exe",
            ["a\u0007b\u2028c.png"] = "abc.png",
            ["..\\..\\etc/pass\u202Ewd.png"] = "passwd.png",
            ["维修照片😀.png"] = "维修照片😀.png",
            ["👨\u200D👩\u200D👧 家庭.png"] = "👨\u200D👩\u200D👧 家庭.png",
            ["\u200B\u202E"] = "file",
        };
        var i = 0;
        foreach (var (sent, kept) in names)
        {
            var uploaded = await UploadAsync(customer, PngWith((byte)i++), sent, "image/png");
            Assert.Equal(201, uploaded.Status);
            Assert.Equal(kept, uploaded.Str("name"));
        }
    }

    private static int RetryAfter(ApiResponse answer) => (int)answer.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
}

using System.Net.Http.Headers;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Conversations;

public sealed class AttachmentTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    public static readonly byte[] Png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
    public static readonly byte[] Pdf = "%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"u8.ToArray();
    public static readonly byte[] Ogg = [.. "OggS"u8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0];

    public static async Task<ApiResponse> UploadAsync(HttpClient client, byte[] bytes, string name, string contentType)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        form.Add(file, "file", name);
        return await client.SendJsonAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/attachments") { Content = form });
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task An_image_is_checked_stored_by_content_and_served_to_who_may_see_its_message(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var (customer, id) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");

        var uploaded = await UploadAsync(customer, Png, "屏幕.png", "image/png");
        Assert.Equal(201, uploaded.Status);
        Assert.Equal("image/png", uploaded.Str("content_type"));
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Png)), uploaded.Str("sha256"));
        var attachment = uploaded.Str("id");

        // Before any message references it, only its uploader gets it.
        Assert.Equal(200, (await customer.GetAsync($"/v1/attachments/{attachment}")).StatusCode is var s1 ? (int)s1 : 0);
        Assert.Equal(404, (int)(await agent.GetAsync($"/v1/attachments/{attachment}")).StatusCode);
        // Someone else cannot send it as theirs.
        var (other, otherId) = await MessagingTests.OpenAsync(app);
        var stolen = await other.PostJsonAsync($"/v1/conversations/{otherId}/messages", new { client_msg_id = "s", kind = "image", body = new { attachment_id = attachment } });
        Assert.Equal(400, stolen.Status);

        var sent = await customer.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "img", kind = "image", body = new { attachment_id = attachment } });
        Assert.Equal(201, sent.Status);
        Assert.Equal("image/png", sent.Json.GetProperty("body").GetProperty("content_type").GetString());

        using var response = await agent.GetAsync($"/v1/attachments/{attachment}");
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal(Png, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("image/png", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("inline", response.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal(404, (int)(await other.GetAsync($"/v1/attachments/{attachment}")).StatusCode);
        Assert.Equal(404, (int)(await (await app.LoginAsync("agent@franchise.demo.local")).GetAsync($"/v1/attachments/{attachment}")).StatusCode);

        // The same bytes uploaded again are a new attachment over the same stored file.
        var again = await UploadAsync(other, Png, "same.png", "image/png");
        Assert.Equal(uploaded.Str("sha256"), again.Str("sha256"));
        if (db == TestDatabases.Sqlite)
            Assert.Single(Directory.GetFiles(Path.Combine(app.Database.DataDirectory, "attachments"), "*", SearchOption.AllDirectories));

        // Recalled, its attachment is served to nobody.
        await customer.PostJsonAsync($"/v1/messages/{sent.Str("id")}/recall");
        Assert.Equal(404, (int)(await agent.GetAsync($"/v1/attachments/{attachment}")).StatusCode);
        Assert.Equal(404, (int)(await customer.GetAsync($"/v1/attachments/{attachment}")).StatusCode);
    }

    [Fact]
    public async Task Content_must_match_its_declared_type_and_executable_types_are_downloads()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        var (customer, id) = await MessagingTests.OpenAsync(app);

        var lying = await UploadAsync(customer, Pdf, "photo.png", "image/png");
        Assert.Equal((400, "invalid_request"), (lying.Status, lying.Code));
        var fakeImage = await UploadAsync(customer, "just text"u8.ToArray(), "x.jpg", "image/jpeg");
        Assert.Equal(400, fakeImage.Status);
        var pdf = await UploadAsync(customer, Pdf, "发票.pdf", "application/octet-stream");
        Assert.Equal("application/pdf", pdf.Str("content_type"));

        var html = await UploadAsync(customer, "<html><script>alert(1)</script></html>"u8.ToArray(), "page.html", "text/html");
        Assert.Equal(201, html.Status);
        var svg = await UploadAsync(customer, "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"u8.ToArray(), "a.svg", "image/svg+xml");
        Assert.Equal(400, svg.Status); // an image type the bytes do not prove
        using var download = await customer.GetAsync($"/v1/attachments/{html.Str("id")}");
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition!.DispositionType);
        Assert.Equal("application/octet-stream", download.Content.Headers.ContentType!.MediaType);
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());

        // A file message may carry it; an image message may not.
        Assert.Equal(400, (await customer.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "1", kind = "image", body = new { attachment_id = html.Str("id") } })).Status);
        Assert.Equal(201, (await customer.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "2", kind = "file", body = new { attachment_id = html.Str("id") } })).Status);

        var voice = await UploadAsync(customer, Ogg, "语音.ogg", "audio/ogg");
        var voiceMessage = await customer.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "3", kind = "voice", body = new { attachment_id = voice.Str("id"), duration_ms = 3200 } });
        Assert.Equal(3200, voiceMessage.Json.GetProperty("body").GetProperty("duration_ms").GetInt64());
        Assert.Equal(400, (await customer.PostJsonAsync($"/v1/conversations/{id}/messages", new { client_msg_id = "4", kind = "voice", body = new { attachment_id = voice.Str("id") } })).Status);
    }

    [Fact]
    public async Task Uploads_over_the_limit_empty_or_malformed_are_refused()
    {
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(TestDatabases.Sqlite, new Dictionary<string, string?> { ["Messages:MaxAttachmentBytes"] = "2000000" });
        var customer = await app.VisitorAsync("demo-digital");
        var big = new byte[3_000_000];
        Png.CopyTo(big, 0);
        var tooBig = await UploadAsync(customer, big, "big.png", "image/png");
        Assert.Equal((413, "too_large"), (tooBig.Status, tooBig.Code));
        // 1.5 MB is over Kestrel's 1 MiB default for JSON calls but under the upload limit.
        var fine = await UploadAsync(customer, big[..1_500_000], "ok.png", "image/png");
        Assert.Equal(201, fine.Status);

        Assert.Equal(400, (await UploadAsync(customer, [], "empty.png", "image/png")).Status);
        var notMultipart = await customer.SendRawAsync(HttpMethod.Post, "/v1/attachments", "{}");
        Assert.Equal((400, "invalid_request"), (notMultipart.Status, notMultipart.Code));
        using var wrongField = new MultipartFormDataContent { { new ByteArrayContent(Png), "photo", "a.png" } };
        Assert.Equal(400, (await customer.SendJsonAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/attachments") { Content = wrongField })).Status);
        Assert.Equal(401, (await app.Anonymous().SendJsonAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/attachments") { Content = new MultipartFormDataContent { { new ByteArrayContent(Png), "file", "a.png" } } })).Status);
        Assert.Empty(Directory.GetFiles(Path.Combine(app.Database.DataDirectory, "attachments"), "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(app.Log.Errors);
    }
}

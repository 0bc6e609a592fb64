using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Data;
using StoreLink.Tests.Infrastructure;
using static StoreLink.Tests.Conversations.AttachmentTests;

namespace StoreLink.Tests.Conversations;

public sealed class AttachmentSweeperTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Uploads_nothing_refers_to_go_after_the_grace_period_and_referenced_or_recalled_ones_stay(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db, new Dictionary<string, string?> { ["Uploads:SweepInterval"] = "00:00:00.200" });
        var (customer, conversation) = await MessagingTests.OpenAsync(app);
        var agent = await app.LoginAsync("agent.digital@demo.local");
        byte[] orphanBytes = [.. Ogg, 7];
        var orphan = (await UploadAsync(customer, orphanBytes, "never-sent.ogg", "audio/ogg")).Str("id");
        var sent = (await UploadAsync(customer, Png, "sent.png", "image/png")).Str("id");
        Assert.Equal(201, (await customer.PostJsonAsync($"/v1/conversations/{conversation}/messages",
            new { client_msg_id = "img", kind = "image", body = new { attachment_id = sent } })).Status);
        // The same content as the sent one, never sent: its row goes, the file stays for the other.
        var twin = (await UploadAsync(customer, Png, "twin.png", "image/png")).Str("id");
        var recalled = (await UploadAsync(customer, Pdf, "recalled.pdf", "application/pdf")).Str("id");
        var message = await customer.PostJsonAsync($"/v1/conversations/{conversation}/messages",
            new { client_msg_id = "pdf", kind = "file", body = new { attachment_id = recalled } });
        Assert.InRange((await customer.PostJsonAsync($"/v1/messages/{message.Str("id")}/recall")).Status, 200, 204);
        // A technician's photo on a work item is in no message.
        byte[] photoBytes = [.. Png, 9];
        var photo = (await UploadAsync(agent, photoBytes, "photo.png", "image/png")).Str("id");
        var customerId = (await customer.GetJsonAsync("/v1/me")).Str("id");
        var storeId = (await agent.GetJsonAsync("/v1/me")).Json.GetProperty("roles")[0].GetProperty("store_id").GetString();
        Assert.Equal(201, (await agent.PostJsonAsync("/v1/work-items",
            new { store_id = storeId, kind = "ticket", customer_id = customerId, title = "屏幕碎了", attachment_ids = new[] { photo } })).Status);

        app.Clock.Advance(TimeSpan.FromHours(25));
        agent = await app.LoginAsync("agent.digital@demo.local"); // a staff token lasts 12 hours
        var fresh = (await UploadAsync(customer, [.. Ogg, 8], "fresh.ogg", "audio/ogg")).Str("id");
        var rows = app.Services.GetRequiredService<Db>();
        async Task<bool> Exists(string id) => await rows.QuerySingleOrDefaultAsync<long?>("SELECT 1 FROM attachments WHERE id = @id", new { id }) is not null;
        // The twin is the last of the old uploads in creation order: once it is gone, the sweep has looked at them all.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await Exists(twin))
        {
            Assert.True(DateTime.UtcNow < deadline, "the unreferenced uploads were not removed");
            await Task.Delay(100);
        }

        Assert.Equal(404, (int)(await customer.GetAsync($"/v1/attachments/{orphan}")).StatusCode);
        Assert.False(await Exists(orphan));
        Assert.False(File.Exists(FileOf(app, orphanBytes)));
        Assert.False(await Exists(twin));
        Assert.True(File.Exists(FileOf(app, Png)));
        Assert.Equal(Png, await agent.GetByteArrayAsync($"/v1/attachments/{sent}"));
        Assert.True(await Exists(recalled));
        Assert.True(File.Exists(FileOf(app, Pdf)));
        Assert.Equal(photoBytes, await agent.GetByteArrayAsync($"/v1/attachments/{photo}"));
        Assert.Equal(200, (int)(await customer.GetAsync($"/v1/attachments/{fresh}")).StatusCode);
        Assert.Empty(app.Log.Errors);
    }

    private static string FileOf(StoreLinkApp app, byte[] content)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(content));
        return Path.Combine(app.Database.DataDirectory, "attachments", sha[..2], sha);
    }
}

using Microsoft.Extensions.DependencyInjection;
using StoreLink.Server.Calls;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Calls;

public sealed class JanusRoomsTests
{
    [Fact]
    public async Task A_call_room_is_private_admits_only_its_pin_and_is_gone_after_destroy()
    {
        var janus = await MediaEngines.JanusAsync();
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, janus.Settings());
        var rooms = app.Services.GetRequiredService<JanusRooms>();
        var ct = TestContext.Current.CancellationToken;

        var room = await rooms.CreateAsync("call_rooms_test", record: false, ct);
        await using var participant = await JanusClient.AttachAsync(janus.Url);
        Assert.True((await participant.RequestAsync(new { request = "exists", room = room.Id })).GetProperty("exists").GetBoolean());
        // Private: not listed to anyone without the plugin's admin key.
        var listed = (await participant.RequestAsync(new { request = "list" })).GetProperty("list").EnumerateArray();
        Assert.DoesNotContain(room.Id, listed.Select(r => r.GetProperty("room").GetInt64()));

        var wrongPin = await participant.AskAsync(new { request = "join", ptype = "publisher", room = room.Id, pin = "0000", display = "intruder" });
        Assert.Equal(JanusRooms.Unauthorized, wrongPin.GetProperty("error_code").GetInt32());
        var joined = await participant.AskAsync(new { request = "join", ptype = "publisher", room = room.Id, pin = room.Pin, display = "agent" });
        Assert.Equal("joined", joined.GetProperty("videoroom").GetString());
        // Nor can a participant who reached Janus make rooms of their own: creating needs the admin key.
        var own = await participant.RequestAsync(new { request = "create", is_private = true, admin_key = "guessed" });
        Assert.Equal(JanusRooms.Unauthorized, own.GetProperty("error_code").GetInt32());
        Assert.True((await participant.RequestAsync(new { request = "create", is_private = true })).TryGetProperty("error_code", out _));

        await rooms.DestroyAsync(room, ct);
        Assert.False((await participant.RequestAsync(new { request = "exists", room = room.Id })).GetProperty("exists").GetBoolean());
        // A second destroy (another node, a retry) finds it gone and is content.
        await rooms.DestroyAsync(room, ct);
    }

    [Fact]
    public async Task Janus_out_of_reach_is_a_janus_exception_the_calls_feature_can_fall_back_on()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite, new Dictionary<string, string?>
        {
            // A port nothing listens on: the discard port, refused at once on loopback.
            ["Calls:Janus:Url"] = "http://127.0.0.1:9/janus",
        });
        var rooms = app.Services.GetRequiredService<JanusRooms>();
        await Assert.ThrowsAsync<JanusException>(() => rooms.CreateAsync("call_unreachable", record: false, TestContext.Current.CancellationToken));
        await Assert.ThrowsAsync<JanusException>(() => rooms.CreateAsync("call_unreachable", record: true, TestContext.Current.CancellationToken));
    }
}

using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Calls;

public sealed class StoreRecordingSettingTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task Call_recording_is_off_in_every_store_until_its_manager_turns_it_on(string db)
    {
        await using var app = await StoreLinkApp.CreateAsync(db);
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var stores = (await (await app.LoginAsync("admin@demo.local")).GetJsonAsync("/v1/stores")).Json.EnumerateArray().ToArray();
        Assert.All(stores, s => Assert.False(s.GetProperty("calls_recording").GetBoolean()));
        var digital = stores.Single(s => s.GetProperty("store_key").GetString() == "demo-digital").GetProperty("id").GetString();
        var bags = stores.Single(s => s.GetProperty("store_key").GetString() == "demo-bags").GetProperty("id").GetString();

        var byAgent = await agent.PatchJsonAsync($"/v1/stores/{digital}", new { calls_recording = true });
        Assert.Equal((403, "forbidden"), (byAgent.Status, byAgent.Code));
        Assert.Equal(404, (await manager.PatchJsonAsync($"/v1/stores/{bags}", new { calls_recording = true })).Status);
        var on = await manager.PatchJsonAsync($"/v1/stores/{digital}", new { calls_recording = true });
        Assert.True(on.Json.GetProperty("calls_recording").GetBoolean(), on.ToString());
        // Stored, and other settings in a later change leave it as it is.
        await manager.PatchJsonAsync($"/v1/stores/{digital}", new { sla_first_response_minutes = 3 });
        Assert.True((await manager.GetJsonAsync($"/v1/stores/{digital}")).Json.GetProperty("calls_recording").GetBoolean());
        var off = await manager.PatchJsonAsync($"/v1/stores/{digital}", new { calls_recording = false });
        Assert.False(off.Json.GetProperty("calls_recording").GetBoolean());
    }
}

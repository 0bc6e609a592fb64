using Microsoft.Extensions.DependencyInjection;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Server.Calls;
using StoreLink.Tests.Infrastructure;
using StoreLink.Tests.Web;

namespace StoreLink.Tests.Calls;

public sealed class CallRecordingsTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    [Theory, MemberData(nameof(Databases))]
    public async Task A_recorded_room_becomes_playable_attachments_of_the_owner_after_it_is_destroyed(string db)
    {
        var janus = await MediaEngines.JanusAsync();
        await using var app = await StoreLinkApp.CreateOnKestrelAsync(db, janus.Settings());
        var ct = TestContext.Current.CancellationToken;
        var agent = await app.LoginAsync("agent.digital@demo.local");
        var me = (await agent.GetJsonAsync("/v1/me")).Json;
        var storeId = me.GetProperty("roles")[0].GetProperty("store_id").GetString();
        var owner = new CurrentUser(me.GetProperty("id").GetString()!, UserKind.Staff, me.GetProperty("org_id").GetString()!,
            me.GetProperty("name").GetString()!, [new RoleDto(storeId, Roles.Agent)], new HashSet<string>(), storeId, null);
        var rooms = app.Services.GetRequiredService<JanusRooms>();
        var callId = $"call_rec_{db}_{Guid.NewGuid():N}"[..40];
        var room = await rooms.CreateAsync(callId, record: true, ct);

        // A participant publishes the fake camera and microphone into the room, as the web client will: through
        // Janus's HTTP API, joining with the call's pin and offering its media in the same request.
        await using var browser = await Browser.NewSessionAsync(app.ServerUri);
        var page = browser.Page;
        await page.GotoAsync("/healthz");
        await page.EvaluateAsync("""
            async ([janus, room, pin]) => {
              const post = async (path, body) => (await fetch(janus + path, {
                method: 'POST', body: JSON.stringify({ ...body, transaction: crypto.randomUUID() }) })).json();
              const session = (await post('', { janus: 'create' })).data.id;
              const handle = (await post('/' + session, { janus: 'attach', plugin: 'janus.plugin.videoroom' })).data.id;
              const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
              const pc = new RTCPeerConnection();
              media.getTracks().forEach(t => pc.addTrack(t, media));
              await pc.setLocalDescription();
              await new Promise(ok => {
                if (pc.iceGatheringState === 'complete') ok();
                pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok();
              });
              window.publisher = { pc, events: [] };
              await post(`/${session}/${handle}`, { janus: 'message',
                body: { request: 'joinandconfigure', ptype: 'publisher', room, pin, display: 'customer' },
                jsep: { type: 'offer', sdp: pc.localDescription.sdp } });
              (async () => {
                while (!publisher.done) {
                  const polled = await (await fetch(`${janus}/${session}?maxev=5`)).json();
                  for (const event of [].concat(polled)) {
                    publisher.events.push(event);
                    if (event.jsep) await pc.setRemoteDescription(event.jsep);
                  }
                }
              })();
            }
            """, new object[] { janus.Url.ToString(), room.Id, room.Pin });
        // Janus says it receives both tracks; from then on the page sends three more seconds of audio (20 ms a packet).
        await page.UntilAsync("""
            async () => {
              const receiving = publisher.events.filter(e => e.janus === 'media' && e.receiving).map(e => e.type);
              if (!receiving.includes('audio') || !receiving.includes('video')) return false;
              const audio = [...(await publisher.pc.getStats()).values()].find(s => s.type === 'outbound-rtp' && s.kind === 'audio');
              publisher.since ??= audio.packetsSent;
              return audio.packetsSent - publisher.since >= 150;
            }
            """, "Janus receiving the page's media, then three more seconds of it");

        await rooms.DestroyAsync(room, ct);
        await page.EvaluateAsync("() => { publisher.done = true; publisher.pc.close(); }");
        var attachments = await app.Services.GetRequiredService<CallRecordings>().CollectAsync(room, owner, storeId, ct);

        Assert.Equal(2, attachments.Count);
        var heads = new List<(string Type, byte[] Head)>();
        foreach (var id in attachments)
        {
            using var response = await agent.GetAsync($"/v1/attachments/{id}", ct);
            Assert.True(response.IsSuccessStatusCode, $"{id}: {(int)response.StatusCode}");
            var bytes = await response.Content.ReadAsByteArrayAsync(ct);
            TestContext.Current.TestOutputHelper?.WriteLine($"{id} {response.Content.Headers.ContentType} {bytes.Length}");
            Assert.True(bytes.Length > 4000, $"{id} ({response.Content.Headers.ContentType}) has {bytes.Length} bytes");
            heads.Add((response.Content.Headers.ContentType!.MediaType!, bytes[..4]));
        }
        Assert.Contains(("audio/ogg", "OggS"u8.ToArray()), heads, HeadComparer.Instance);
        Assert.Contains(("video/webm", new byte[] { 0x1A, 0x45, 0xDF, 0xA3 }), heads, HeadComparer.Instance);
        Assert.False(Directory.Exists(janus.Settings()["Calls:Janus:RecordingsDirectory"] + "/" + callId));
    }

    private sealed class HeadComparer : IEqualityComparer<(string Type, byte[] Head)>
    {
        public static readonly HeadComparer Instance = new();
        public bool Equals((string Type, byte[] Head) x, (string Type, byte[] Head) y) => x.Type == y.Type && x.Head.SequenceEqual(y.Head);
        public int GetHashCode((string Type, byte[] Head) obj) => obj.Type.GetHashCode();
    }
}

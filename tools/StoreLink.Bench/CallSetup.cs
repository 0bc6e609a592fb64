using System.Diagnostics;
using System.Text.Json;
using Microsoft.Playwright;

namespace StoreLink.Bench;

/// <summary>
/// <c>--call-setup N</c>: how long a call takes from "accept" to the first remote video frame, measured in Debian's
/// Chromium with fake camera and microphone, through the product's own browser call engine
/// (<c>/assets/shared/calls/engine.js</c>) and the server's signalling: N video calls one after the other between a
/// visitor and an agent, each hung up once both sides show the other's picture. With <c>--turn</c> the server hands out
/// relay-only ICE (coturn started from <c>.ci/coturn/turnserver.conf</c>), so every call goes through TURN.
/// </summary>
public sealed class CallSetup(BenchOptions options, Target target, PairSetup pair)
{
    // In the page: a live socket and a call engine signed in with the token, as the widget and the console make them.
    private const string OpenEngine = """
        async token => {
          const { LiveSocket } = await import('/assets/shared/socket.js');
          const { CallEngine } = await import('/assets/shared/calls/engine.js');
          const request = async (method, path, body) => {
            const r = await fetch(path, { method, headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
              body: body === undefined ? undefined : JSON.stringify(body) });
            const text = await r.text();
            if (!r.ok) throw Object.assign(new Error(text), { status: r.status });
            return text ? JSON.parse(text) : null;
          };
          const socket = new LiveSocket({ token });
          const ready = new Promise(resolve => socket.addEventListener('ready', resolve, { once: true }));
          socket.start(token);
          await ready;
          window.engine = new CallEngine({ socket, request, userId: () => socket.user?.id });
          window.until = (test, ms = 30000) => new Promise((resolve, reject) => {
            const end = performance.now() + ms;
            const poll = () => { const v = test(); if (v) resolve(v); else if (performance.now() > end) reject(new Error('timed out')); else setTimeout(poll, 5); };
            poll();
          });
          // The wall-clock time of the first frame the remote video shows (requestVideoFrameCallback on a <video>).
          window.firstFrame = async () => {
            const remote = await until(() => engine.remotes.find(r => r.stream?.getVideoTracks().length));
            const video = document.createElement('video');
            video.muted = true; video.autoplay = true; video.playsInline = true; video.srcObject = remote.stream;
            document.body.append(video);
            const at = await new Promise(resolve => video.requestVideoFrameCallback(() => resolve(performance.timeOrigin + performance.now())));
            video.remove();
            return at;
          };
          window.relayed = async () => {
            for (const peer of engine.peers.values()) {
              const stats = await peer.pc.getStats();
              for (const s of stats.values())
                if (s.type === 'transport' && s.selectedCandidatePairId) {
                  const local = stats.get(stats.get(s.selectedCandidatePairId).localCandidateId);
                  return local.candidateType === 'relay';
                }
            }
            return false;
          };
        }
        """;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Args = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"],
        });
        var customer = await OpenAsync(browser, pair.CustomerToken);
        var agent = await OpenAsync(browser, pair.AgentToken);

        var agentMs = new List<double>();
        var customerMs = new List<double>();
        var relayed = 0;
        var problems = new List<string>();
        for (var i = 0; i < options.CallSetups && !ct.IsCancellationRequested; i++)
        {
            try
            {
                await customer.EvaluateAsync($"() => engine.start({JsonSerializer.Serialize(pair.ConversationId)}, 'video')");
                await agent.EvaluateAsync("() => until(() => engine.phase === 'incoming')");
                var customerFrame = customer.EvaluateAsync<double>("() => firstFrame()");
                var accepted = await agent.EvaluateAsync<double>("() => { const at = performance.timeOrigin + performance.now(); engine.accept('video'); return at; }");
                var agentFrame = await agent.EvaluateAsync<double>("() => firstFrame()");
                agentMs.Add(agentFrame - accepted);
                customerMs.Add(await customerFrame - accepted);
                if (await agent.EvaluateAsync<bool>("() => relayed()"))
                    relayed++;
                await customer.EvaluateAsync("() => engine.hangup()");
                await Task.WhenAll(
                    customer.EvaluateAsync("() => until(() => engine.phase === 'ended').then(() => engine.dismiss())"),
                    agent.EvaluateAsync("() => until(() => engine.phase === 'ended').then(() => engine.dismiss())"));
                Log($"call {i + 1}: agent's first frame {agentMs[^1]:0} ms, customer's {customerMs[^1]:0} ms after accept");
            }
            catch (PlaywrightException e)
            {
                problems.Add($"call {i + 1}: {e.Message.Split('\n')[0]}");
                await customer.EvaluateAsync("() => { engine.hangup(); }");
                await agent.EvaluateAsync("() => { engine.hangup(); }");
            }
        }

        var both = agentMs.Zip(customerMs, Math.Max).ToList();
        Console.WriteLine();
        Console.WriteLine($"call set-up, accept → first remote video frame, {both.Count} calls{(options.Turn ? " relay-only through coturn" : " direct (host candidates)")}, relayed: {relayed}");
        Console.WriteLine($"  agent's side     {Percentiles(agentMs)}");
        Console.WriteLine($"  customer's side  {Percentiles(customerMs)}");
        Console.WriteLine($"  both sides       {Percentiles(both)}");
        foreach (var problem in problems)
            Console.WriteLine($"  problem: {problem}");
        var ok = problems.Count == 0 && (!options.Turn || relayed == both.Count);
        return ok ? 0 : 1;
    }

    private async Task<IPage> OpenAsync(IBrowser browser, string token)
    {
        var context = await browser.NewContextAsync(new() { BaseURL = target.Url.ToString() });
        var page = await context.NewPageAsync();
        // Any page of the server's origin: getUserMedia needs a secure context, which http://127.0.0.1 is.
        await page.GotoAsync("/healthz");
        await page.EvaluateAsync(OpenEngine, token);
        return page;
    }

    private static string Percentiles(List<double> values)
    {
        if (values.Count == 0)
            return "no samples";
        var sorted = values.Order().ToArray();
        double At(double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
        return $"p50 {At(0.50),6:0} ms  p95 {At(0.95),6:0} ms  min {sorted[0],6:0} ms  max {sorted[^1],6:0} ms";
    }

    private static void Log(string text) => Console.Error.WriteLine($"{DateTime.Now:HH:mm:ss} {text}");
}

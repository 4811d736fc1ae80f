import Mustache

/// The explorer's Mustache templates. Every value is written with `{{name}}`, which HTML-escapes
/// (`<`, `>`, `&`, `"`, `'`): strings from the chain (a participant's URL, a model id, a tx log)
/// render as text. Triple braces (unescaped) are never used; `ExplorerTemplatesTests` checks that.
enum ExplorerTemplates {
    /// The frame of every page: head, navigation, search, the live height, then the page's `content`.
    static let layout = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{frame.title}} · {{frame.chainID}} explorer</title>
        <link rel="icon" href="/explorer/icon.svg" type="image/svg+xml">
        <link rel="stylesheet" href="/explorer/style.css">
        <script src="/explorer/live.js" defer></script>
        </head>
        <body>
        <header>
        <a class="brand" href="/">gonka · <span id="chain-id">{{frame.chainID}}</span></a>
        <nav>{{#frame.nav}}<a href="{{href}}"{{#current}} class="current"{{/current}}>{{name}}</a>{{/frame.nav}}</nav>
        <form class="search" action="/explorer/search" method="get">
        <input name="q" placeholder="height, address, inference id or tx hash" maxlength="128" aria-label="search">
        </form>
        <span class="tip">height <b id="live-height" data-live="height">{{frame.height}}</b>
        <span id="live-status" class="dot" title="live updates"></span></span>
        </header>
        <main>
        <h1>{{frame.title}}</h1>
        {{$content}}{{/content}}
        </main>
        <footer>Served by this node from its chain; no other host is contacted.</footer>
        </body>
        </html>

        """

    static let overview = """
        {{<layout}}{{$content}}
        <section class="cards">
        <div class="card"><h2>Height</h2><p class="big" id="height" data-live="height">{{height}}</p>
        <p>last block <span id="block-time" data-live="block-time">{{blockTime}}</span></p>
        <p>block interval <span id="block-interval">{{blockInterval}}</span></p></div>
        <div class="card"><h2>Epoch</h2><p class="big" id="epoch">{{epoch}}</p>
        <p>stage <b id="stage">{{stage}}</b> (active epoch {{activeEpoch}})</p>
        <p>{{nextStage}} at {{nextStageHeight}}: <span id="countdown" data-live="countdown"
         data-target-height="{{nextStageHeight}}" data-interval-ms="{{blockIntervalMs}}">{{countdown}}</span></p></div>
        <div class="card"><h2>Validators</h2><p class="big" id="validator-count">{{validatorCount}}</p>
        <p>total power <span id="total-power">{{totalPower}}</span></p></div>
        <div class="card"><h2>Participants</h2><p class="big" id="participant-count">{{participantCount}}</p>
        <p>total weight <span id="total-weight">{{totalWeight}}</span></p></div>
        <div class="card"><h2>Inferences</h2><p class="big" id="served-this-epoch">{{servedThisEpoch}}</p>
        <p>finished this epoch; last epoch <span id="traffic-last-epoch">{{trafficLastEpoch}}</span></p>
        <p>live: <span id="inferences-per-minute" data-live="inferences-per-minute">—</span> per minute</p></div>
        {{#supply}}<div class="card"><h2>Supply</h2><p class="big" id="supply-circulating">{{circulating}}</p>
        <p>minted {{minted}}, burned {{burned}}</p></div>{{/supply}}
        </section>
        <h2>Models</h2>
        <table id="models"><thead><tr><th>model</th><th>price per token</th><th>utilisation</th>
        <th>capacity (tokens/s per weight)</th><th>context</th></tr></thead><tbody>
        {{#models}}<tr><td>{{id}}</td><td class="num">{{price}}</td><td class="num">{{utilisation}}</td>
        <td class="num">{{capacity}}</td><td class="num">{{contextLength}}</td></tr>{{/models}}
        {{^models}}<tr><td colspan="5">No models registered.</td></tr>{{/models}}
        </tbody></table>
        <h2>Validators</h2>
        <table id="validators"><thead><tr><th>address</th><th>power</th><th>share</th></tr></thead><tbody>
        {{#validators}}<tr><td><a href="/explorer/participant/{{address}}">{{address}}</a></td>
        <td class="num">{{power}}</td><td class="num">{{share}}</td></tr>{{/validators}}
        </tbody></table>
        <h2>Latest blocks</h2>
        <table id="recent-blocks"><thead><tr><th>height</th><th>time</th><th>txs</th><th>hash</th></tr></thead>
        <tbody id="live-blocks">
        {{#recentBlocks}}<tr><td><a href="/explorer/block/{{height}}">{{height}}</a></td><td>{{time}}</td>
        <td class="num">{{txs}}</td><td class="hash">{{shortHash}}</td></tr>{{/recentBlocks}}
        </tbody></table>
        {{/content}}{{/layout}}
        """

    static let participants = """
        {{<layout}}{{$content}}
        <p>Weights of epoch {{epoch}}; validation standing of the epoch inference counts toward now.</p>
        <table id="participants"><thead><tr><th>address</th><th>API URL</th><th>weight</th><th>voting power</th>
        <th>reputation</th><th>status</th><th>validation</th><th>served</th><th>executor misses</th>
        <th>invalidated</th><th>collateral</th><th>jailed</th><th>last settlement</th><th>API node</th></tr></thead><tbody>
        {{#participants}}<tr data-address="{{address}}"><td><a href="/explorer/participant/{{address}}">{{address}}</a></td>
        <td class="url">{{url}}</td><td class="num weight">{{weight}}</td><td class="num power">{{votingPower}}</td>
        <td class="num reputation">{{reputation}}</td><td class="status">{{status}}</td>
        <td class="validation{{#invalid}} bad{{/invalid}}">{{validationStatus}}</td><td class="num">{{served}}</td>
        <td class="num missed">{{missed}}</td><td class="num invalidated">{{invalidated}}</td>
        <td class="num collateral">{{collateral}}</td><td class="jailed{{#isJailed}} bad{{/isJailed}}">{{jailed}}</td>
        <td class="settlement">{{lastSettlement}}</td>
        <td class="health{{#healthy}} good{{/healthy}}">{{health}}</td></tr>{{/participants}}
        {{^participants}}<tr><td colspan="14">No participants.</td></tr>{{/participants}}
        </tbody></table>
        {{/content}}{{/layout}}
        """

    static let participant = """
        {{<layout}}{{$content}}
        {{#row}}<dl class="facts" id="participant">
        <dt>address</dt><dd id="address">{{address}}</dd>
        <dt>API URL</dt><dd id="url" class="url">{{url}}</dd>
        <dt>weight</dt><dd id="weight">{{weight}}</dd>
        <dt>voting power</dt><dd id="voting-power">{{votingPower}}</dd>
        <dt>status</dt><dd id="status">{{status}}</dd>
        <dt>validation</dt><dd id="validation-status">{{validationStatus}}</dd>
        <dt>reputation</dt><dd id="reputation">{{reputation}}</dd>
        <dt>served this epoch</dt><dd>{{served}}</dd>
        <dt>invalidated</dt><dd id="invalidated">{{invalidated}}</dd>
        <dt>executor misses this epoch</dt><dd id="missed">{{missed}}</dd>
        <dt>collateral</dt><dd id="collateral">{{collateral}}</dd>
        <dt>jailed</dt><dd id="jailed">{{jailed}}</dd>
        <dt>last settlement</dt><dd id="last-settlement">{{lastSettlement}}</dd>
        <dt>API node</dt><dd id="health">{{health}}</dd>
        {{/row}}
        <dt>registered at</dt><dd>{{registeredHeight}}</dd>
        <dt>consensus key</dt><dd class="hash">{{consensusKey}}</dd>
        <dt>executor misses (all time)</dt><dd id="misses">{{missesReported}} reported, {{missesExpired}} expired
         (last at {{missesLastHeight}})</dd>
        <dt>LLR (threshold)</dt><dd>{{llr}} ({{llrThreshold}})</dd>
        <dt>checked / validations done</dt><dd>{{checked}} / {{validationsDone}}</dd>
        </dl>
        <h2>History</h2>
        <div class="charts">{{#charts}}<figure><figcaption>{{caption}}</figcaption><svg id="{{id}}" width="{{width}}"
         height="{{height}}" viewBox="0 0 {{width}} {{height}}" role="img" aria-label="{{caption}} per epoch">{{#bars}}
        <rect x="{{x}}" y="{{y}}" width="{{width}}" height="{{height}}" fill="#3b6fb6"><title>epoch {{label}}: {{value}}</title></rect>
        <text x="{{labelX}}" y="{{labelY}}" font-size="10" text-anchor="middle">{{label}}</text>{{/bars}}</svg></figure>
        {{/charts}}</div>
        <table id="history"><thead><tr><th>epoch</th><th>weight</th><th>status</th><th>served</th><th>invalidated</th>
        <th>invalid rate</th><th>reward</th></tr></thead><tbody>
        {{#history}}<tr><td>{{epoch}}</td><td class="num">{{weight}}</td><td>{{status}}</td><td class="num">{{served}}</td>
        <td class="num">{{invalidated}}</td><td class="num">{{invalidRate}}</td><td class="num">{{reward}}</td></tr>{{/history}}
        {{^history}}<tr><td colspan="7">No epochs with weights yet.</td></tr>{{/history}}
        </tbody></table>
        {{/content}}{{/layout}}
        """

    static let inference = """
        {{<layout}}{{$content}}
        <dl class="facts" id="inference">
        <dt>id</dt><dd class="hash" id="inference-id">{{id}}</dd>
        <dt>status</dt><dd id="status">{{status}}</dd>
        <dt>outcome</dt><dd id="outcome">{{outcome}}</dd>
        <dt>model</dt><dd id="model">{{model}}</dd>
        <dt>requester</dt><dd>{{requester}}</dd>
        <dt>transfer agent</dt><dd id="transfer-agent"><a href="/explorer/participant/{{transferAgent}}">{{transferAgent}}</a></dd>
        <dt>executor</dt><dd id="executor"><a href="/explorer/participant/{{executor}}">{{executor}}</a></dd>
        <dt>attempt</dt><dd id="attempt">{{attempt}}</dd>
        <dt>tokens</dt><dd id="tokens">{{promptTokens}} prompt, {{completionTokens}} completion (max {{maxTokens}})</dd>
        <dt>price per token</dt><dd>{{price}}</dd>
        <dt>escrow</dt><dd>{{escrow}}</dd>
        <dt>cost</dt><dd id="cost">{{cost}}</dd>
        <dt>refund</dt><dd id="refund">{{refund}}</dd>
        <dt>heights</dt><dd>started {{startHeight}}, finished {{finishHeight}} (epoch {{epoch}})</dd>
        </dl>
        <h2>Validations</h2>
        <table id="validations"><thead><tr><th>validator</th><th>result</th><th>reason</th><th>distance (ppm)</th>
        <th>sampler misses</th><th>height</th><th>vote</th></tr></thead><tbody>
        {{#validations}}<tr><td>{{validator}}</td><td>{{#passed}}passed{{/passed}}{{^passed}}failed{{/passed}}</td>
        <td>{{reason}}</td><td class="num">{{distancePpm}}</td><td class="num">{{samplerMisses}}</td>
        <td class="num">{{height}}</td><td>{{#vote}}yes{{/vote}}</td></tr>{{/validations}}
        {{^validations}}<tr><td colspan="7">No validations recorded.</td></tr>{{/validations}}
        </tbody></table>
        {{#voting}}<h2>Revalidation vote</h2>
        <p>opened by {{firstValidator}} ({{firstReason}}), deadline {{deadlineHeight}}, outcome {{outcome}}</p>
        <table><thead><tr><th>revalidator</th><th>weight</th><th>vote</th></tr></thead><tbody>
        {{#revalidators}}<tr><td>{{address}}</td><td class="num">{{weight}}</td><td>{{vote}}</td></tr>{{/revalidators}}
        </tbody></table>{{/voting}}
        {{/content}}{{/layout}}
        """

    static let blocks = """
        {{<layout}}{{$content}}
        <table id="blocks"><thead><tr><th>height</th><th>time</th><th>proposer</th><th>txs</th><th>hash</th></tr></thead>
        <tbody>
        {{#blocks}}<tr><td><a href="/explorer/block/{{height}}">{{height}}</a></td><td>{{time}}</td>
        <td class="hash">{{proposer}}</td><td class="num">{{txs}}</td><td class="hash">{{shortHash}}</td></tr>{{/blocks}}
        {{^blocks}}<tr><td colspan="5">No blocks yet.</td></tr>{{/blocks}}
        </tbody></table>
        {{#olderLink}}<p><a id="older" href="{{olderLink}}">older blocks</a></p>{{/olderLink}}
        {{/content}}{{/layout}}
        """

    static let block = """
        {{<layout}}{{$content}}
        <dl class="facts" id="block">
        <dt>height</dt><dd id="block-height">{{height}}</dd>
        <dt>hash</dt><dd class="hash">{{hash}}</dd>
        <dt>time</dt><dd>{{time}}</dd>
        <dt>proposer</dt><dd class="hash">{{proposer}}</dd>
        <dt>app hash</dt><dd class="hash">{{appHash}}</dd>
        <dt>previous block hash</dt><dd class="hash">{{lastBlockHash}}</dd>
        <dt>commit round</dt><dd>{{round}}</dd>
        <dt>signers</dt><dd class="hash">{{#signers}}{{.}}<br>{{/signers}}</dd>
        </dl>
        <p>{{#previous}}<a href="/explorer/block/{{previous}}">← {{previous}}</a>{{/previous}}
        {{#next}}<a href="/explorer/block/{{next}}">{{next}} →</a>{{/next}}</p>
        <h2>Transactions</h2>
        <table id="txs"><thead><tr><th>hash</th></tr></thead><tbody>
        {{#txs}}<tr><td class="hash"><a href="/explorer/tx/{{hash}}">{{hash}}</a></td></tr>{{/txs}}
        {{^txs}}<tr><td>No transactions.</td></tr>{{/txs}}
        </tbody></table>
        {{/content}}{{/layout}}
        """

    static let tx = """
        {{<layout}}{{$content}}
        <dl class="facts" id="tx">
        <dt>hash</dt><dd class="hash">{{hash}}</dd>
        <dt>block</dt><dd><a href="/explorer/block/{{height}}">{{height}}</a> (index {{index}})</dd>
        <dt>result</dt><dd id="tx-code" class="{{^ok}}bad{{/ok}}">{{#ok}}success{{/ok}}{{^ok}}failed (code {{code}}){{/ok}}</dd>
        <dt>log</dt><dd>{{log}}</dd>
        </dl>
        <h2>Events</h2>
        {{#events}}<h3>{{type}}</h3><dl class="facts">{{#attributes}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/attributes}}</dl>
        {{/events}}{{^events}}<p>No events.</p>{{/events}}
        {{/content}}{{/layout}}
        """

    static let proposals = """
        {{<layout}}{{$content}}
        <p>Voting power is epoch weight; shares are of the epoch's total power. A running vote's tally is
        the one its votes give now, and is refreshed as votes arrive.</p>
        <div id="live-proposals" data-live-refresh="proposal">
        <table id="proposals"><thead><tr><th>id</th><th>title</th><th>kind</th><th>status</th><th>deposit</th>
        <th>voting ends</th><th>yes</th><th>no</th><th>abstain</th><th>no with veto</th><th>turnout</th></tr></thead><tbody>
        {{#proposals}}<tr data-proposal="{{id}}"><td><a href="/explorer/proposal/{{id}}">{{id}}</a></td>
        <td class="title"><a href="/explorer/proposal/{{id}}">{{title}}</a></td><td>{{kind}}</td>
        <td class="status{{#open}} open{{/open}}">{{status}}</td><td class="num deposit">{{deposit}}</td>
        <td class="num voting-end">{{votingEndHeight}}</td>
        {{#tally}}<td class="num yes">{{yes}} <span class="share">{{yesShare}}</span></td>
        <td class="num no">{{no}} <span class="share">{{noShare}}</span></td>
        <td class="num abstain">{{abstain}} <span class="share">{{abstainShare}}</span></td>
        <td class="num veto">{{veto}} <span class="share">{{vetoShare}}</span></td>
        <td class="num turnout">{{turnout}}</td>{{/tally}}</tr>{{/proposals}}
        {{^proposals}}<tr><td colspan="11">No proposals yet.</td></tr>{{/proposals}}
        </tbody></table>
        </div>
        {{/content}}{{/layout}}
        """

    static let proposal = """
        {{<layout}}{{$content}}
        <div id="live-proposals" data-live-refresh="proposal">
        <dl class="facts" id="proposal">
        <dt>id</dt><dd id="proposal-id">{{id}}</dd>
        <dt>title</dt><dd id="title">{{title}}</dd>
        <dt>summary</dt><dd id="summary">{{summary}}</dd>
        <dt>kind</dt><dd id="kind">{{kind}}{{#expedited}} (expedited){{/expedited}}</dd>
        <dt>proposer</dt><dd><a href="/explorer/participant/{{proposer}}">{{proposer}}</a></dd>
        <dt>status</dt><dd id="status">{{status}}</dd>
        <dt>outcome now</dt><dd id="outcome-now">{{outcomeNow}}</dd>
        <dt>outcome</dt><dd id="outcome">{{outcome}}{{#open}} (open){{/open}}</dd>
        <dt>deposit</dt><dd id="deposit">{{totalDeposit}}</dd>
        <dt>deposit fate</dt><dd>{{depositFate}}</dd>
        <dt>heights</dt><dd>submitted {{submitHeight}}, deposit until {{depositEndHeight}}, vote
         {{votingStartHeight}} to <span id="voting-end">{{votingEndHeight}}</span> ({{blocksLeft}} blocks left)</dd>
        </dl>
        <h2>Tally</h2>
        {{#tally}}<table id="tally"><thead><tr><th>option</th><th>power</th><th>share of total power</th></tr></thead><tbody>
        <tr><td>yes</td><td class="num yes">{{yes}}</td><td class="num yes-share">{{yesShare}}</td></tr>
        <tr><td>no</td><td class="num no">{{no}}</td><td class="num no-share">{{noShare}}</td></tr>
        <tr><td>abstain</td><td class="num abstain">{{abstain}}</td><td class="num abstain-share">{{abstainShare}}</td></tr>
        <tr><td>no with veto</td><td class="num veto">{{veto}}</td><td class="num veto-share">{{vetoShare}}</td></tr>
        <tr><td>turnout</td><td></td><td class="num turnout">{{turnout}}</td></tr>
        </tbody></table>
        <p>total power <span id="total-power">{{totalPower}}</span> (weights of epoch {{epoch}})</p>{{/tally}}
        <h2>Votes</h2>
        <table id="votes"><thead><tr><th>voter</th><th>option</th><th>power</th><th>height</th></tr></thead><tbody>
        {{#votes}}<tr><td><a href="/explorer/participant/{{voter}}">{{voter}}</a></td><td>{{option}}</td>
        <td class="num">{{power}}</td><td class="num">{{height}}</td></tr>{{/votes}}
        {{^votes}}<tr><td colspan="4">No votes yet.</td></tr>{{/votes}}
        </tbody></table>
        <h2>Deposits</h2>
        <table id="deposits"><thead><tr><th>depositor</th><th>amount</th></tr></thead><tbody>
        {{#deposits}}<tr><td>{{depositor}}</td><td class="num">{{amount}}</td></tr>{{/deposits}}
        </tbody></table>
        <h2>Content</h2>
        <pre id="content">{{content}}</pre>
        </div>
        {{/content}}{{/layout}}
        """

    static let error = """
        {{<layout}}{{$content}}
        <section class="error" id="error"><p class="status">{{status}}</p><p>{{heading}}</p><p>{{message}}</p>
        <p><a href="/">Back to the overview</a></p></section>
        {{/content}}{{/layout}}
        """

    /// Every template by name, for the library and for the tests.
    static let all: [(name: String, source: String)] = [
        ("layout", layout), ("overview", overview), ("participants", participants), ("participant", participant),
        ("inference", inference), ("blocks", blocks), ("block", block), ("tx", tx), ("proposals", proposals),
        ("proposal", proposal),
        ("error", error),
    ]

    /// The compiled library. The sources are constants of this file, so a parse failure is a
    /// programming error that the tests catch on the first render.
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        for (name, source) in all { try library.register(source, named: name) }
        return library
    }
}

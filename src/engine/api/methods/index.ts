// Every API method module; importing one registers its methods.
import './hello.js';
import './summary.js';
import './ike-list.js';
import './child-list.js';
import './rekey.js';
import './subscribe.js';
import './stop.js';
import './ping.js';
